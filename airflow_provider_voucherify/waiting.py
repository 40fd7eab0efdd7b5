"""Waiting for async actions: one I/O-free planner, driven by a sync and an async runner.

:func:`plan_waiting` decides what a wait does next, without touching the network or a clock: it
yields :class:`Poll` (run one :class:`~airflow_provider_voucherify.polling.ActionTracker` cycle)
or :class:`Sleep` (until an epoch second), is sent a :class:`Polled` after each poll, and returns
the final :class:`~airflow_provider_voucherify.verdict.Verdict`. The next poll is the latest of:

- ``poll_interval`` after the last poll: never more often;
- the moment the actions' progress rate says all of them will be final (at most
  ``MAX_POLL_GAP`` ahead, so a ``FAILED`` import is still seen within minutes); while nothing
  has moved yet, the gap doubles from ``poll_interval`` up to 16 of them (and that cap);
- the moment the wait's own calls fit in ``api_budget_share`` of the plan's ordinary budget, as
  the ``X-Rate-Limit-*`` headers report it (:class:`~airflow_provider_voucherify.pacing.ApiBudget`).

After an error: a 429 on ``api_calls`` (``VoucherifyRateLimitError`` with ``retry_at``) sleeps
until the window reopens and does not count as a failure; other transient errors (429, 5xx,
lost connections) back off, doubling while nothing gets through; everything else,
``api_calls_cycle`` included (the billing cycle's quota: waiting is pointless), is raised.
Every sleep ends at the deadline at the latest, and the deadline gives a timeout verdict.

Each :class:`Sleep` says whether it is worth a progress line (``report``): the first one, then
whenever an action is first seen, starts or ends, and otherwise once per
``PROGRESS_LOG_INTERVAL`` (a minute), however often the wait polls; errors are always reported.

:func:`wait_until_finished` (``time.sleep`` and the hook's sync calls: the operator's wait and the
poke-mode sensor) and :func:`await_until_finished` (``asyncio.sleep`` and the async calls: the
trigger) only carry out the steps.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_voucherify.exceptions import VoucherifyError, VoucherifyRateLimitError
from airflow_provider_voucherify.pacing import (
    DEFAULT_API_BUDGET_SHARE,
    ApiBudget,
    ProgressRate,
    RateLimitView,
    check_share,
)
from airflow_provider_voucherify.polling import (
    PROGRESS_LOG_INTERVAL,
    ActionTracker,
    ListReader,
    Log,
    apoll_once,
    error_backoff,
    is_transient,
    poll_once,
)
from airflow_provider_voucherify.verdict import Verdict

if TYPE_CHECKING:
    from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook

T = TypeVar("T")

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
        reopens_at = exc.retry_at if isinstance(exc, VoucherifyRateLimitError) and is_transient(exc) else None
        budget.spend(polled.calls, polled.rate_limit, now, reopens_at=reopens_at)
        if polled.verdict is not None and polled.verdict.finished:
            return polled.verdict
        if deadline is not None and now >= deadline:
            return tracker.timed_out(now - started)
        warning = exc is not None
        if exc is not None:
            if reopens_at is not None:
                wake, why = max(reopens_at, now), f"rate limited ({exc}); the window reopens"
            elif is_transient(exc):
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


def _polled(
    hook: Any,
    tracker: ActionTracker,
    before: int,
    now: float,
    verdict: Verdict | None,
    error: BaseException | None,
) -> Polled:
    """A cycle's outcome, with the calls it made since the tracker had made ``before``."""
    return Polled(now, tracker.calls - before, verdict, error, getattr(hook, "rate_limit", None))


def _report(step: Sleep, log: Log) -> None:
    if step.warning:
        log.warning("Waiting: %s", step.note)
    elif step.report:
        log.info("Waiting: %s", step.note)


def wait_until_finished(
    hook: VoucherifyHook,
    ids: Sequence[str],
    *,
    poll_interval: float,
    timeout: float | None,
    max_failed_orders: int = 0,
    api_budget_share: float = DEFAULT_API_BUDGET_SHARE,
    log: Log,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Verdict:
    """Poll with the hook's sync calls until every action is final or ``timeout`` seconds pass.

    Returns a finished verdict (success, failed or timeout); raises the hook's errors that waiting
    cannot cure (401/403, unknown id, ``api_calls_cycle``). ``timeout=None``: no limit.
    """
    tracker = ActionTracker(ids, max_failed_orders=max_failed_orders)
    policy = WaitPolicy(poll_interval, api_budget_share)
    started = clock()
    plan = plan_waiting(tracker, policy, now=started, deadline=None if timeout is None else started + timeout)
    try:
        step = next(plan)
        while True:
            if isinstance(step, Sleep):
                _report(step, log)
                sleep(max(0.0, step.until - clock()))
                step = plan.send(None)
                continue
            before = tracker.calls
            try:
                polled = _polled(hook, tracker, before, clock(), poll_once(hook, tracker), None)
            except VoucherifyError as exc:
                polled = _polled(hook, tracker, before, clock(), None, exc)
            step = plan.send(polled)
    except StopIteration as stop:
        result: Verdict = stop.value
        return result


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """``awaitable``'s result if it comes within ``seconds``, else ``asyncio.TimeoutError``.

    ``asyncio.wait_for`` on Python 3.10 and 3.11 can swallow a cancellation that arrives as the
    awaited call finishes (cpython#86296): a trigger the triggerer cancelled would keep polling
    until its deadline. ``asyncio.timeout`` (3.11+) runs the call in the caller's own task and
    lets the cancellation through; on 3.10, ``asyncio.wait`` does, at the price of a task per
    call (CPU a triggerer with hundreds of triggers pays every poll cycle).
    """
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    finally:
        if not task.done():
            task.cancel()
    if not done:
        await asyncio.wait({task})  # let the cancelled poll unwind before the client closes
        raise asyncio.TimeoutError
    return task.result()


async def await_until_finished(
    hook: VoucherifyHook,
    ids: Sequence[str],
    *,
    poll_interval: float,
    timeout: float | None,
    max_failed_orders: int = 0,
    api_budget_share: float = DEFAULT_API_BUDGET_SHARE,
    log: Log,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    lists: ListReader | None = None,
) -> Verdict:
    """Async twin of :func:`wait_until_finished`, for the trigger; a poll never outlasts the deadline.

    :param lists: reads the list calls instead of the hook (the trigger's shared list reads)
    """
    tracker = ActionTracker(ids, max_failed_orders=max_failed_orders)
    policy = WaitPolicy(poll_interval, api_budget_share)
    started = clock()
    plan = plan_waiting(tracker, policy, now=started, deadline=None if timeout is None else started + timeout)
    try:
        step = next(plan)
        while True:
            if isinstance(step, Sleep):
                _report(step, log)
                await sleep(max(0.0, step.until - clock()))
                step = plan.send(None)
                continue
            before = tracker.calls
            try:
                cycle = apoll_once(hook, tracker, lists)
                # A 429 may ask for a longer wait than the deadline leaves: the deadline wins.
                verdict = await (cycle if step.deadline is None else within(cycle, step.deadline - clock()))
            except asyncio.TimeoutError as exc:
                # The deadline passed mid-cycle (the timer may fire a hair early: it is the deadline).
                now = clock() if step.deadline is None else max(clock(), step.deadline)
                polled = _polled(hook, tracker, before, now, None, exc)
            except VoucherifyError as exc:
                polled = _polled(hook, tracker, before, clock(), None, exc)
            else:
                polled = _polled(hook, tracker, before, clock(), verdict, None)
            step = plan.send(polled)
    except StopIteration as stop:
        result: Verdict = stop.value
        return result
