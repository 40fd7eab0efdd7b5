"""Voucherify's rate limits, as every part of the provider meets them: one place for the facts.

- What an answer says: the ``X-Rate-Limit-*`` headers (:func:`read_rate_limit`), and how long a
  429 asks us to stay away (``Retry-After`` in seconds or as an HTTP date, ``X-Rate-Limit-Retry``
  in epoch seconds: :func:`server_wait`, :func:`retry_at`).
- How the limits are counted: in calendar windows (a minute, an hour: :func:`window_end`); past a
  limit, calls are refused until the window ends. The API never says how long a window is: a
  client learns it from the headers (:class:`WindowLength`).
- How moments are shown in progress lines (:func:`when`, :func:`clock_time`), and the one way to
  wait for a window in-process (:func:`sleep_until`).

Which limits waiting can cure is the error policy's (:mod:`~airflow_provider_voucherify.error_policy`);
the two planners built on these facts are the wait's ordinary-call budget
(:mod:`~airflow_provider_voucherify.waiting.pacing`) and the import's bulk-call view
(:mod:`~airflow_provider_voucherify.importing.plan_view`). No Airflow here.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

HOUR = 3600.0
MINUTE = 60.0
# The longest calendar window of an ordinary or bulk limit (the Sandbox's and the legacy plans'
# hour): what a client assumes until the answers show a shorter one.
ASSUMED_WINDOW = HOUR
# The shortest wait for a window that a task defers for; a shorter one is slept in the worker.
# Airflow may resume a task deferred for a few seconds before the deferral is recorded, and then
# marks it failed with nothing in its log (apache/airflow#72716); tens of seconds are safe, and
# holding a worker slot for under a minute costs less than a deferral's round trip.
MIN_DEFER_SECONDS = 60.0


@dataclass(frozen=True)
class RateLimit:
    """The rate-limit view of one answer, as the API reported it.

    :param limit: ``X-Rate-Limit-Limit``: calls allowed in the current window
    :param remaining: ``X-Rate-Limit-Remaining``: calls left in the current window
    :param limit_type: ``X-Rate-Limit-Type`` (``api_calls``, ``bulk_api_calls``,
        ``api_calls_cycle``, ...): sent on a 429, ``None`` when the answer did not name it
    :param seen_at: epoch seconds (wall clock) when the answer arrived
    """

    limit: int | None = None
    remaining: int | None = None
    limit_type: str | None = None
    seen_at: float = 0.0


def _integer(value: str | None) -> int | None:
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return int(float(value))
    return None


def read_rate_limit(headers: Mapping[str, str], now: float) -> RateLimit | None:
    """The answer's ``X-Rate-Limit-*`` values, or ``None`` when it carried none of them.

    ``headers`` must look names up case-insensitively (``httpx.Headers`` does).
    """
    limit = _integer(headers.get("x-rate-limit-limit"))
    remaining = _integer(headers.get("x-rate-limit-remaining"))
    limit_type = headers.get("x-rate-limit-type") or None
    if limit is None and remaining is None and limit_type is None:
        return None
    return RateLimit(limit=limit, remaining=remaining, limit_type=limit_type, seen_at=now)


def server_wait(headers: Mapping[str, str], now: float) -> float:
    """Seconds the API asked us to wait (``Retry-After`` or ``X-Rate-Limit-Retry``), 0 if none."""
    waits = [0.0]
    retry_after = headers.get("retry-after")
    if retry_after:
        try:
            waits.append(float(retry_after))
        except ValueError:
            with contextlib.suppress(TypeError, ValueError):
                waits.append(parsedate_to_datetime(retry_after).timestamp() - now)
    retry_at = headers.get("x-rate-limit-retry")
    if retry_at:
        with contextlib.suppress(ValueError):
            waits.append(float(retry_at) - now)
    return max(waits)


def retry_at(headers: Mapping[str, str], now: float) -> float | None:
    """Epoch seconds when the API said to come back, or ``None`` when it named no time."""
    if not (headers.get("retry-after") or headers.get("x-rate-limit-retry")):
        return None
    return now + server_wait(headers, now)


@dataclass
class WindowLength:
    """What the answers told of one limit's window length (seconds): learned, not assumed.

    A window boundary shows in two ways: exactly, as the moment a 429 names
    (``X-Rate-Limit-Retry``, or ``Retry-After`` from the moment it arrived: :meth:`reopens`), or
    as an interval ``(after, by]`` when ``X-Rate-Limit-Remaining`` went back up between two
    answers although our own calls lowered it (:meth:`answered`). Two facts follow:

    - two distinct boundaries ``(a0, b0]`` and ``(a1, b1]`` lie a whole number of windows apart,
      so ``b1 - a0`` is an upper bound of the length (``measured``: the least seen), exact when
      both came from 429s and no window passed unseen between them;
    - windows are calendar periods (a minute, an hour): a boundary off the top of the hour means
      windows shorter than an hour, one off the top of a minute too means windows that are no
      calendar period at all (a time-scaled emulator), whose length only a measurement gives
      (``calendar``: ``HOUR`` until a boundary says less, then ``MINUTE``, then ``None``).

    Every estimate is an upper bound of the true length (an assumed hour for a limit counted by
    the hour or the minute), so pacing by it never spends more than the limit allows.
    Plain data (``to_dict``), so a deferred import can carry it.
    """

    measured: float | None = None
    calendar: float | None = ASSUMED_WINDOW
    boundary: tuple[float, float] | None = None  # the latest boundary seen lies in (after, by]
    seen: tuple[float, int] | None = field(default=None, repr=False)  # (when, remaining) last answered

    @classmethod
    def from_dict(cls, data: Mapping[str, object] | None) -> WindowLength:
        data = dict(data or {})
        for name in ("boundary", "seen"):
            value = data.get(name)
            data[name] = tuple(value) if isinstance(value, (list, tuple)) else None
        return cls(**data)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return {
            "measured": self.measured,
            "calendar": self.calendar,
            "boundary": self.boundary,
            "seen": self.seen,
        }

    def length(self) -> float | None:
        """The least upper bound known, or ``None`` while only a measurement can tell (an
        uncalendared window not measured yet)."""
        known = [value for value in (self.measured, self.calendar) if value is not None]
        return min(known) if known else None

    @property
    def learned(self) -> bool:
        """Whether the length was measured (rather than assumed or deduced from the calendar)."""
        return self.measured is not None and self.measured == self.length()

    def next_opening(self, now: float) -> float | None:
        """When the window holding ``now`` ends, at the latest (``None`` while the length is unknown):
        the calendar's boundary for a calendar window, else the latest boundary seen plus whole
        windows."""
        length = self.length()
        if length is None:
            return None
        if self.calendar == length or self.boundary is None:
            return window_end(now, length)
        opened = self.boundary[1]
        return opened + (math.floor(max(now - opened, 0.0) / length) + 1) * length

    def reopens(self, at: float) -> None:
        """A 429 said this limit's window reopens at ``at`` (epoch seconds): a boundary, exactly."""
        self._boundary(at, at)

    def answered(self, remaining: int, calls: int, now: float) -> bool:
        """An answer at ``now`` said ``remaining`` calls are left after ``calls`` of ours since the
        previous answer; returns whether a window boundary passed in between."""
        seen, self.seen = self.seen, (now, remaining)
        if seen is None or calls <= 0 or now <= seen[0] or remaining < seen[1]:
            return False
        # Our calls must have lowered the count: it did not go down, so a new window began.
        self._boundary(seen[0], now)
        return True

    def _boundary(self, after: float, by: float) -> None:
        self._calendar(after, by)
        previous, self.boundary = self.boundary, (after, by)
        if previous is None:
            return
        if after >= previous[1] and by > previous[1]:
            # Two distinct boundaries: a whole number of windows apart.
            bound = by - previous[0]
            self.measured = bound if self.measured is None else min(self.measured, bound)
        elif previous[0] >= after and previous[1] <= by:
            # The same boundary, maybe, seen less sharply: keep the sharper sight of it.
            self.boundary = previous

    def _calendar(self, after: float, by: float) -> None:
        def holds_multiple(length: float) -> bool:
            return math.ceil(after / length) * length <= by

        if self.calendar == HOUR and not holds_multiple(HOUR):
            self.calendar = MINUTE
        if self.calendar == MINUTE and not holds_multiple(MINUTE):
            self.calendar = None


def should_defer(moment: float, now: float, floor: float | None = None) -> bool:
    """Whether waiting until ``moment`` is worth a deferral: at least ``floor`` seconds
    (:data:`MIN_DEFER_SECONDS`) away; a shorter wait happens in the worker."""
    return moment - now >= (MIN_DEFER_SECONDS if floor is None else floor)


def defer_or_wait(defer: bool, moment: float, now: float) -> tuple[bool, str]:
    """Whether a wait until ``moment`` (epoch seconds) defers, and the progress line's words for it.

    It defers when asked to (``defer``) and the moment is at least :data:`MIN_DEFER_SECONDS` away;
    the words are ``""`` when no deferral was asked for.
    """
    if not defer:
        return False, ""
    if not should_defer(moment, now):
        return False, f"; waiting in the worker (a wait under {MIN_DEFER_SECONDS:.0f} s is not deferred)"
    return True, "; deferring: the worker and the pool slot are free meanwhile"


def window_end(now: float, length: float) -> float:
    """When the calendar window of ``length`` seconds holding ``now`` (epoch seconds) ends."""
    return (math.floor(now / length) + 1) * length


def clock_time(epoch: float) -> str:
    """``14:00:00Z``: a wall-clock moment in UTC, as progress lines show it."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%H:%M:%SZ")


def when(epoch: float) -> str:
    """``2026-11-30T14:00:00Z``."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sleep_until(
    moment: float,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait in this process until ``moment`` (epoch seconds); ``clock`` and ``sleep`` are seams for tests."""
    sleep(max(moment - clock(), 0.0))
