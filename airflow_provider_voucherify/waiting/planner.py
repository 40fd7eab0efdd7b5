"""Waiting for async actions: the I/O-free planner, driven by the runners of :mod:`.runners`.

:func:`plan_waiting` decides what a wait does next, without touching the network or a clock: it
yields :class:`Poll` (run one :class:`~airflow_provider_voucherify.waiting.tracker.ActionTracker` cycle)
or :class:`Sleep` (until an epoch second), is sent a :class:`Polled` after each poll, and returns
the final :class:`~airflow_provider_voucherify.waiting.verdict.Verdict`. The next poll is the latest of:

- ``poll_interval`` after the last poll: never more often;
- the moment the actions' progress rate says all of them will be final (at most
  ``MAX_POLL_GAP`` ahead, so a ``FAILED`` import is still seen within minutes); while nothing
  has moved yet, the gap doubles from ``poll_interval`` up to 16 of them (and that cap);
- the moment the wait's own calls fit in ``api_budget_share`` of the plan's ordinary budget, as
  the ``X-Rate-Limit-*`` headers report it (:class:`~airflow_provider_voucherify.waiting.pacing.ApiBudget`).

After an error: a 429 on ``api_calls`` (``VoucherifyRateLimitError`` with ``retry_at``) sleeps
until the window reopens and does not count as a failure; other transient errors (429, 5xx,
lost connections) back off, doubling while nothing gets through; everything else,
``api_calls_cycle`` included (the billing cycle's quota: waiting is pointless), is raised.
Every sleep ends at the deadline at the latest, and the deadline gives a timeout verdict.

Each :class:`Sleep` says whether it is worth a progress line (``report``): the first one, then
whenever an action is first seen, starts or ends, and otherwise once per
``PROGRESS_LOG_INTERVAL`` (a minute), however often the wait polls; errors are always reported.

:func:`~.runners.wait_until_finished` (``time.sleep`` and the sync calls: the operator's wait and
the poke-mode sensor) and :func:`~.runners.await_until_finished` (``asyncio.sleep`` and the async
calls: the trigger) only carry out the steps.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from airflow_provider_voucherify.error_policy import waiting_can_cure
from airflow_provider_voucherify.exceptions import VoucherifyRateLimitError
from airflow_provider_voucherify.waiting.pacing import (
    DEFAULT_API_BUDGET_SHARE,
    ApiBudget,
    ProgressRate,
    RateLimitView,
    check_share,
)
from airflow_provider_voucherify.waiting.tracker import ActionTracker
from airflow_provider_voucherify.waiting.verdict import Verdict

PROGRESS_LOG_INTERVAL = 60.0
# After consecutive transient errors the wait doubles, up to this (or poll_interval, if longer).
MAX_ERROR_BACKOFF = 300.0

# However far the estimated finish, poll at least this often (unless the budget forbids it).
MAX_POLL_GAP = 600.0
# While nothing moves, the gap doubles from poll_interval up to this many poll_intervals (and
# MAX_POLL_GAP): a wait queued behind other imports still polls often enough to see them start.
MAX_IDLE_INTERVALS = 16


@dataclass(frozen=True)
class WaitPolicy:
    """The knobs of a wait.

    :param poll_interval: the shortest time between two polls, in seconds
    :param api_budget_share: the largest share of the plan's ordinary calls the wait may spend
    :param budget_window: the ordinary window in seconds assumed until the answers show a
        shorter one; ``None``: ``pacing.ASSUMED_WINDOW`` (an hour)
    :param max_poll_gap: the longest time between two polls the progress rate may plan;
        ``None``: :data:`MAX_POLL_GAP`
    """

    poll_interval: float
    api_budget_share: float = DEFAULT_API_BUDGET_SHARE
    budget_window: float | None = None
    max_poll_gap: float | None = None

    def __post_init__(self) -> None:
        if self.poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {self.poll_interval}")
        check_share(self.api_budget_share)


@dataclass(frozen=True)
class Poll:
    """Run one tracker cycle, giving up at ``deadline`` (epoch seconds; ``None``: never)."""

    deadline: float | None


@dataclass(frozen=True)
class Sleep:
    """Sleep until the epoch second ``until``; ``note`` says why, ``warning`` when after an error.

    :param report: whether ``note`` is worth a progress line (always, for a warning)
    """

    until: float
    note: str
    warning: bool = False
    report: bool = True


@dataclass(frozen=True)
class Polled:
    """What a poll gave: its verdict or its error, the calls it made, the latest rate-limit view.

    :param now: epoch seconds when the cycle ended
    :param calls: API calls the cycle made (answered or not)
    """

    now: float
    calls: int
    verdict: Verdict | None = None
    error: BaseException | None = None
    rate_limit: RateLimitView | None = None


Step = Poll | Sleep


def error_backoff(poll_interval: float, failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive transient errors (0: none, poll as usual)."""
    if failures <= 0:
        return poll_interval
    return min(poll_interval * 2.0 ** (failures - 1), max(poll_interval, MAX_ERROR_BACKOFF))


def _seconds(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


def plan_waiting(
    tracker: ActionTracker, policy: WaitPolicy, *, now: float, deadline: float | None
) -> Generator[Step, Polled | None, Verdict]:
    """Plan a wait on ``tracker``'s actions from ``now`` until they are final or ``deadline`` passes.

    Send a :class:`Polled` after each :class:`Poll` and ``None`` after each :class:`Sleep` (which
    the runner sleeps in full). Returns a finished verdict; raises the polled error that waiting
    cannot cure.
    """
    started = now
    budget = ApiBudget(policy.api_budget_share, policy.budget_window)
    rate = ProgressRate()
    total = 100.0 * len(tracker.ids)
    failures = idle = 0
    reported: tuple[float, tuple[int, ...]] | None = None  # (when, milestones) of the last line
    longest = max(policy.poll_interval, MAX_POLL_GAP if policy.max_poll_gap is None else policy.max_poll_gap)
    while True:
        if deadline is not None and now >= deadline:
            return tracker.timed_out(now - started)
        answers = tracker.answers
        polled = yield Poll(deadline)
        assert polled is not None, "send a Polled after a Poll"
        now = polled.now
        exc = polled.error
        reopens_at = (
            exc.retry_at if isinstance(exc, VoucherifyRateLimitError) and waiting_can_cure(exc) else None
        )
        budget.spend(polled.calls, polled.rate_limit, now, reopens_at=reopens_at)
        if polled.verdict is not None and polled.verdict.finished:
            return polled.verdict
        if deadline is not None and now >= deadline:
            return tracker.timed_out(now - started)
        warning = exc is not None
        if exc is not None:
            if reopens_at is not None:
                wake, why = max(reopens_at, now), f"rate limited ({exc}); the window reopens"
            elif waiting_can_cure(exc):
                # Back off only while nothing gets through; a cycle cut short still made progress.
                failures = failures + 1 if tracker.answers == answers else 0
                wake = now + error_backoff(policy.poll_interval, failures)
                why = f"polling failed for now: {exc}"
            else:
                raise exc
        else:
            failures = 0
            rate.observe(now, tracker.progress_points(), tracker.running())
            finish = rate.finish_at(total)
            if finish is None:
                # Nothing moving yet (queued behind other imports): back off. Once it moves,
                # measure its pace over one poll_interval.
                idle = 0 if rate.grew else idle
                gap = min(policy.poll_interval * min(2.0**idle, MAX_IDLE_INTERVALS), longest)
                idle += 1
                why = "measuring the pace" if rate.grew else "no progress seen yet"
            else:
                idle = 0
                gap = min(max(finish - now, policy.poll_interval), longest)
                why = f"all expected final in {_seconds(finish - now)}"
            wake = now + gap
        allowed = budget.next_allowed()
        if allowed > wake:
            wake = allowed
            why += f"; keeping to {budget.share:.0%} of {budget.limit} calls per {_seconds(budget.window)}"
        if deadline is not None:
            wake = min(wake, deadline)
        if wake > now:
            latest = polled.verdict.message if polled.verdict is not None else tracker.verdict().message
            milestones = tracker.milestones()
            report = warning or (
                reported is None or milestones != reported[1] or now - reported[0] >= PROGRESS_LOG_INTERVAL
            )
            if report and not warning:
                reported = (now, milestones)
            yield Sleep(wake, f"{latest}; next poll in {_seconds(wake - now)} ({why})", warning, report)
            now = wake
