"""How soon a wait may poll, and how soon it is worth polling: pure arithmetic over what was seen.

Two estimates feed the waiting planner (:mod:`~airflow_provider_voucherify.waiting.planner`):

- :class:`ApiBudget`: the earliest time the next poll keeps the wait's own calls within a share
  of the plan's ordinary budget. The API reports the budget in every answer
  (``X-Rate-Limit-Limit`` calls per window, ``X-Rate-Limit-Remaining``) but not the window's
  length, so the budget assumes the hourly window of the Sandbox and the legacy plans, and
  switches to a one-minute window once the remaining count goes back up inside one calendar
  hour (a per-minute plan: Business, Organization).
- :class:`ProgressRate`: when the actions are expected to be finished, from how fast their
  ``progress`` grew since it started moving. Imports of one project run one at a time, so the
  summed progress of the actions waited for grows at the queue's pace.

Times are epoch seconds (the API's windows are calendar periods); nothing here reads a clock.
"""

from __future__ import annotations

import math
from typing import Protocol

from airflow_provider_voucherify.rate_limits import ASSUMED_WINDOW, WindowLength, window_end

__all__ = ["ASSUMED_WINDOW", "DEFAULT_API_BUDGET_SHARE", "ApiBudget", "ProgressRate", "check_share"]

DEFAULT_API_BUDGET_SHARE = 0.2


class RateLimitView(Protocol):
    """The ``X-Rate-Limit-*`` values of the latest answer, as the hook's ``rate_limit`` gives them."""

    @property
    def limit(self) -> int | None: ...

    @property
    def remaining(self) -> int | None: ...


def check_share(share: float) -> float:
    """``share`` as a float in (0, 1]; raises ``ValueError`` otherwise."""
    share = float(share)
    if not 0.0 < share <= 1.0:
        raise ValueError(f"api_budget_share must be above 0 and at most 1, got {share}")
    return share


class ApiBudget:
    """Paces the wait's own calls to at most ``share`` of the ordinary calls of a window.

    Each cycle's calls push the next allowed poll ``calls * window / (share * limit)`` seconds
    further (a leaky bucket of depth one cycle), so over any window the wait spends at most
    ``share * limit`` calls plus one cycle. When the answers say fewer calls remain than a cycle
    needs (others spent the budget), the next poll waits for the next calendar window.

    :param share: the largest share of the ordinary budget the wait may spend, in (0, 1]
    :param window: the assumed window in seconds, until the answers show a shorter one
        (``None``: :data:`~airflow_provider_voucherify.rate_limits.ASSUMED_WINDOW`)
    """

    def __init__(self, share: float = DEFAULT_API_BUDGET_SHARE, window: float | None = None) -> None:
        self.share = check_share(share)
        self._assumed = float(window if window is not None else ASSUMED_WINDOW)
        self.length = WindowLength()
        self.limit: int | None = None
        self._free_at = -math.inf
        self._exhausted_until = -math.inf

    @property
    def window(self) -> float:
        """The window length paced by: the least the headers proved, else the assumed one."""
        learned = self.length.length()
        return self._assumed if learned is None else min(learned, self._assumed)

    def spend(
        self, calls: int, view: RateLimitView | None, now: float, *, reopens_at: float | None = None
    ) -> None:
        """Record a cycle of ``calls`` calls that ended at ``now`` with the answer's ``view``.

        :param reopens_at: when a 429 said the window reopens (epoch seconds), if it did
        """
        if view is not None and view.limit:
            self.limit = view.limit
        assumed = self.window
        if reopens_at is not None:
            self.length.reopens(reopens_at)
            self._exhausted_until = max(self._exhausted_until, reopens_at)
        elif view is not None and view.remaining is not None:
            self.length.answered(view.remaining, calls, now)
            if view.remaining < max(calls, 1):
                self._exhausted_until = self.window_end(now)
        if self.window < assumed and self._free_at > now:
            # The window proved shorter than assumed: the calls spent so far weigh that much less.
            self._free_at = now + (self._free_at - now) * self.window / assumed
        if self.limit and calls > 0:
            self._free_at = max(self._free_at, now) + calls * self.window / (self.share * self.limit)

    def window_end(self, now: float) -> float:
        """When the window holding ``now`` ends (at the latest, while its length is an estimate)."""
        learned = self.length.next_opening(now)
        return window_end(now, self._assumed) if learned is None or self.window == self._assumed else learned

    def next_allowed(self) -> float:
        """The earliest epoch second at which the next poll keeps to the budget."""
        return max(self._free_at, self._exhausted_until)

    @property
    def calls_per_window(self) -> float | None:
        """What the wait may spend per window, once an answer reported the limit."""
        return self.share * self.limit if self.limit else None


class ProgressRate:
    """Estimates when every action will be final, from the growth of their summed progress.

    Work is counted in progress points: 100 per action, an action's ``progress`` while it runs,
    100 once final. The rate is measured from an observation that saw the work moving (one of the
    actions in progress): when the first growth follows a time with all of them queued (behind
    other imports), when it began is unknown, so the measurement starts at that observation.
    """

    def __init__(self) -> None:
        self._anchor: tuple[float, float] | None = None  # (when, work) growth is measured from
        self._trusted = False  # the anchor saw the work moving: all growth since is real
        self._measured = False
        self.latest: tuple[float, float] | None = None
        self.grew = False  # whether the latest observation showed growth

    def observe(self, now: float, work: float, running: bool) -> None:
        """Record the summed progress ``work`` seen at ``now``; ``running``: an action in progress."""
        previous, self.latest = self.latest, (now, work)
        self.grew = previous is not None and work > previous[1]
        if self._measured:
            return
        if self._anchor is None or not self.grew:
            self._anchor, self._trusted = (now, work), running
        elif self._trusted:
            self._measured = True
        else:
            self._anchor, self._trusted = (now, work), True

    def rate(self) -> float | None:
        """Progress points per second, or ``None`` before a growth was measured."""
        if not self._measured or self._anchor is None or self.latest is None:
            return None
        (since, start), (now, work) = self._anchor, self.latest
        return (work - start) / (now - since) if now > since else None

    def finish_at(self, total: float) -> float | None:
        """The epoch second at which the work should reach ``total``, or ``None`` if unknown."""
        rate = self.rate()
        if rate is None or rate <= 0 or self.latest is None:
            return None
        now, work = self.latest
        return now + max(0.0, total - work) / rate
