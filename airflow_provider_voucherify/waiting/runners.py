"""The runners: carry the planners' calls and sleeps out, synchronously or in an event loop.

Two planners read async actions, both as generators of calls (:class:`~.tracker.ListPage`,
:class:`~.tracker.Fetch`): a poll cycle (:meth:`~.tracker.ActionTracker.cycle`) and the ledger's
state check of earlier tries' batches
(:func:`~airflow_provider_voucherify.importing.ledger.state_check`). :func:`run_calls` and
:func:`arun_calls` carry any such plan to a client's sync or async methods, and nothing else
does. :func:`wait_until_finished` and :func:`await_until_finished` drive the waiting planner
(:func:`~.planner.plan_waiting`): sleep, poll, repeat, with the clock and the sleep as seams.

The clients are typed as the calls made of them (:class:`ActionReader`,
:class:`AsyncActionReader`), which ``VoucherifyHook`` satisfies; nothing here imports Airflow.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Generator, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from airflow_provider_voucherify.exceptions import VoucherifyError
from airflow_provider_voucherify.models import AsyncAction
from airflow_provider_voucherify.waiting.pacing import DEFAULT_API_BUDGET_SHARE, RateLimitView
from airflow_provider_voucherify.waiting.planner import (
    PROGRESS_LOG_INTERVAL,
    Polled,
    Sleep,
    WaitPolicy,
    plan_waiting,
)
from airflow_provider_voucherify.waiting.tracker import ActionTracker, Answer, Call, ListPage, Log
from airflow_provider_voucherify.waiting.verdict import Verdict

T = TypeVar("T")
R = TypeVar("R")


class ActionReader(Protocol):
    """The sync calls the runners make (``VoucherifyHook`` has them)."""

    @property
    def rate_limit(self) -> RateLimitView | None: ...

    def get_async_action(self, async_action_id: str) -> AsyncAction: ...

    def list_async_actions(
        self, limit: int = ..., end_date: datetime | None = ..., *, ids: Collection[str] | None = ...
    ) -> list[AsyncAction]: ...


class AsyncActionReader(Protocol):
    """The async twins of :class:`ActionReader`'s calls, for the trigger."""

    @property
    def rate_limit(self) -> RateLimitView | None: ...

    async def aget_async_action(self, async_action_id: str) -> AsyncAction: ...

    async def alist_async_actions(
        self, limit: int = ..., end_date: datetime | None = ..., *, ids: Collection[str] | None = ...
    ) -> list[AsyncAction]: ...


class ListReader(Protocol):
    """Reads the list for the async runner instead of the client (``shared_reads.SharedListReads``)."""

    async def read(self, call: ListPage) -> list[AsyncAction]: ...


def run_calls(client: ActionReader, plan: Generator[Call, Answer, R]) -> R:
    """Carry ``plan``'s calls out with ``client``'s sync methods; return what ``plan`` returns.

    A call's error is thrown into ``plan`` at its ``yield``: the plan may handle it (a 404 it
    expects) or let it through, out of this function.
    """
    answer: Answer = None
    error: Exception | None = None
    try:
        while True:
            call = plan.send(answer) if error is None else plan.throw(error)
            error = None
            try:
                if isinstance(call, ListPage):
                    ids = call.ids or None
                    answer = client.list_async_actions(limit=call.limit, end_date=call.end_date, ids=ids)
                else:
                    answer = client.get_async_action(call.async_action_id)
            except Exception as exc:
                error = exc
    except StopIteration as stop:
        result: R = stop.value
        return result


async def arun_calls(
    client: AsyncActionReader, plan: Generator[Call, Answer, R], lists: ListReader | None = None
) -> R:
    """Async twin of :func:`run_calls`, for the trigger; ``lists`` reads the list calls, if given."""
    answer: Answer = None
    error: Exception | None = None
    try:
        while True:
            call = plan.send(answer) if error is None else plan.throw(error)
            error = None
            try:
                if isinstance(call, ListPage):
                    ids = call.ids or None
                    answer = await (
                        client.alist_async_actions(limit=call.limit, end_date=call.end_date, ids=ids)
                        if lists is None
                        else lists.read(call)
                    )
                else:
                    answer = await client.aget_async_action(call.async_action_id)
            except Exception as exc:
                error = exc
    except StopIteration as stop:
        result: R = stop.value
        return result


def poll_once(client: ActionReader, tracker: ActionTracker) -> Verdict:
    """Run one cycle of ``tracker`` with ``client``'s sync calls; raises the client's errors."""
    run_calls(client, tracker.cycle())
    return tracker.verdict()


async def apoll_once(
    client: AsyncActionReader, tracker: ActionTracker, lists: ListReader | None = None
) -> Verdict:
    """Async twin of :func:`poll_once`, for the trigger; ``lists`` reads the list calls, if given."""
    await arun_calls(client, tracker.cycle(), lists)
    return tracker.verdict()


class ProgressLog:
    """Logs a running verdict's progress at most once per ``interval`` seconds."""

    def __init__(
        self,
        log: Log,
        interval: float = PROGRESS_LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._interval = interval
        self._clock = clock
        self._last: float | None = None

    def __call__(self, verdict: Verdict | str) -> None:
        now = self._clock()
        if self._last is None or now - self._last >= self._interval:
            self._last = now
            self._log.info("Waiting: %s", verdict if isinstance(verdict, str) else verdict.message)


def _polled(
    client: Any,
    tracker: ActionTracker,
    before: int,
    now: float,
    verdict: Verdict | None,
    error: BaseException | None,
) -> Polled:
    """A cycle's outcome, with the calls it made since the tracker had made ``before``."""
    return Polled(now, tracker.calls - before, verdict, error, getattr(client, "rate_limit", None))


def _report(step: Sleep, log: Log) -> None:
    if step.warning:
        log.warning("Waiting: %s", step.note)
    elif step.report:
        log.info("Waiting: %s", step.note)


def wait_until_finished(
    client: ActionReader,
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
    """Poll with ``client``'s sync calls until every action is final or ``timeout`` seconds pass.

    Returns a finished verdict (success, failed or timeout); raises the client's errors that waiting
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
                polled = _polled(client, tracker, before, clock(), poll_once(client, tracker), None)
            except VoucherifyError as exc:
                polled = _polled(client, tracker, before, clock(), None, exc)
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
    client: AsyncActionReader,
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

    :param lists: reads the list calls instead of the client (the trigger's shared list reads)
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
                cycle = apoll_once(client, tracker, lists)
                # A 429 may ask for a longer wait than the deadline leaves: the deadline wins.
                verdict = await (cycle if step.deadline is None else within(cycle, step.deadline - clock()))
            except asyncio.TimeoutError as exc:
                # The deadline passed mid-cycle (the timer may fire a hair early: it is the deadline).
                now = clock() if step.deadline is None else max(clock(), step.deadline)
                polled = _polled(client, tracker, before, now, None, exc)
            except VoucherifyError as exc:
                polled = _polled(client, tracker, before, clock(), None, exc)
            else:
                polled = _polled(client, tracker, before, clock(), verdict, None)
            step = plan.send(polled)
    except StopIteration as stop:
        result: Verdict = stop.value
        return result
