"""AsyncActionTrigger: waits for async actions inside the triggerer, without holding a worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_voucherify.exceptions import VoucherifyError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.polling import (
    ActionTracker,
    ProgressLog,
    apoll_once,
    error_backoff,
    is_transient,
)
from airflow_provider_voucherify.verdict import Outcome, Verdict

T = TypeVar("T")

CLASSPATH = "airflow_provider_voucherify.triggers.async_action.AsyncActionTrigger"


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """``awaitable``'s result if it comes within ``seconds``, else ``asyncio.TimeoutError``.

    ``asyncio.wait_for`` on Python 3.10 and 3.11 can swallow a cancellation that arrives as the
    awaited call finishes (cpython#86296): a trigger the triggerer cancelled would keep polling
    until its deadline. ``asyncio.wait`` lets the cancellation through on every version.
    """
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


class AsyncActionTrigger(BaseTrigger):
    """Polls Voucherify async actions until they are final or ``end_time`` passes; fires one event.

    The event's payload is :meth:`Verdict.to_event() <airflow_provider_voucherify.verdict.Verdict.to_event>`
    with ``status`` ``success``, ``failed``, ``timeout`` or ``error``; read it back with
    ``Verdict.from_event``. Transient API errors (429, 5xx, lost connections) are retried here
    until ``end_time``; only errors that waiting cannot cure (bad credentials, unknown id) end
    the wait early, as an ``error`` event.

    :param async_action_ids: the async action ids to wait for
    :param voucherify_conn_id: the Voucherify connection, read without blocking the event loop
    :param poll_interval: seconds between two poll cycles
    :param end_time: wall-clock deadline as epoch seconds; kept as is when the trigger is
        rebuilt in another triggerer process
    :param max_failed_orders: failed orders tolerated over all actions before the wait fails
    """

    def __init__(
        self,
        async_action_ids: Sequence[str],
        voucherify_conn_id: str,
        poll_interval: float,
        end_time: float,
        max_failed_orders: int = 0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.async_action_ids = [str(action_id) for action_id in async_action_ids]
        self.voucherify_conn_id = voucherify_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = float(end_time)
        self.max_failed_orders = int(max_failed_orders)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "async_action_ids": list(self.async_action_ids),
                "voucherify_conn_id": self.voucherify_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "max_failed_orders": self.max_failed_orders,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        verdict = await self._wait()
        self.log.info("Async actions %s: %s", verdict.status.value, verdict.message)
        yield TriggerEvent(verdict.to_event())  # type: ignore[no-untyped-call]

    async def _wait(self) -> Verdict:
        started = time.time()
        hook = VoucherifyHook(self.voucherify_conn_id)
        try:
            tracker = ActionTracker(self.async_action_ids, max_failed_orders=self.max_failed_orders)
            progress = ProgressLog(self.log)
            failures = 0
            while True:
                remaining = self.end_time - time.time()
                if remaining <= 0:
                    return tracker.timed_out(time.time() - started)
                answers = tracker.answers
                try:
                    # A 429 may ask for a longer wait than the deadline leaves: the deadline wins.
                    verdict = await within(apoll_once(hook, tracker), remaining)
                except asyncio.TimeoutError:
                    return tracker.timed_out(time.time() - started)
                except VoucherifyError as exc:
                    if not is_transient(exc):
                        return Verdict(status=Outcome.ERROR, message=str(exc))
                    # Back off only while nothing gets through; a cycle cut short still made progress.
                    failures = failures + 1 if tracker.answers == answers else 0
                    self.log.warning("Polling async actions failed for now, polling again: %s", exc)
                else:
                    if verdict.finished:
                        return verdict
                    failures = 0
                    progress(verdict)
                pause = error_backoff(self.poll_interval, failures)
                await asyncio.sleep(max(0.0, min(pause, self.end_time - time.time())))
        except Exception as exc:
            # One event, always: an unexpected error becomes an `error` event the task can report.
            self.log.exception("Waiting for async actions %s failed", self.async_action_ids)
            return Verdict(status=Outcome.ERROR, message=f"{type(exc).__name__}: {exc}")
        finally:
            await hook.aclose()
