"""AsyncActionTrigger: waits for async actions inside the triggerer, without holding a worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_voucherify.exceptions import ConnectionConfigError, VoucherifyError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.waiting.pacing import DEFAULT_API_BUDGET_SHARE, check_share
from airflow_provider_voucherify.waiting.runners import await_until_finished
from airflow_provider_voucherify.waiting.shared_reads import SharedListReads, Sharing
from airflow_provider_voucherify.waiting.verdict import Outcome, Verdict

CLASSPATH = "airflow_provider_voucherify.triggers.async_action.AsyncActionTrigger"


class AsyncActionTrigger(BaseTrigger):
    """Polls Voucherify async actions until they are final or ``end_time`` passes; fires one event.

    The event's payload is :meth:`~airflow_provider_voucherify.waiting.verdict.Verdict.to_event`
    with ``status`` ``success``, ``failed``, ``timeout`` or ``error``; read it back with
    ``Verdict.from_event``. Polls are planned by :func:`~airflow_provider_voucherify.waiting.plan_waiting`:
    from the imports' progress rate, never more often than ``poll_interval``, within
    ``api_budget_share`` of the plan's ordinary calls. Transient API errors (429, 5xx, lost
    connections) are waited out here until ``end_time`` (a 429 until its window reopens); only
    errors that waiting cannot cure (bad credentials, unknown id, the billing cycle's quota
    spent) end the wait early, as an ``error`` event. The triggers of one connection in one
    triggerer share their list calls (:mod:`~airflow_provider_voucherify.waiting.shared_reads`) unless the
    connection's ``share_list_calls`` extra is false.

    :param async_action_ids: the async action ids to wait for
    :param voucherify_conn_id: the Voucherify connection, read without blocking the event loop
    :param poll_interval: the shortest time between two poll cycles, in seconds
    :param end_time: wall-clock deadline as epoch seconds; kept as is when the trigger is
        rebuilt in another triggerer process
    :param max_failed_orders: failed orders tolerated over all actions before the wait fails
    :param api_budget_share: the largest share of the plan's ordinary API calls (as the
        ``X-Rate-Limit-*`` headers report them) the wait may spend, in (0, 1]

    ``clock`` (epoch seconds) and ``sleep`` are the wait's seams: tests replace them on an instance
    to run backoff, rate-limit windows and deadlines on a fake clock. They are not serialized.
    """

    def __init__(
        self,
        async_action_ids: Sequence[str],
        voucherify_conn_id: str,
        poll_interval: float,
        end_time: float,
        max_failed_orders: int = 0,
        api_budget_share: float = DEFAULT_API_BUDGET_SHARE,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.async_action_ids = [str(action_id) for action_id in async_action_ids]
        self.voucherify_conn_id = voucherify_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = float(end_time)
        self.max_failed_orders = int(max_failed_orders)
        self.api_budget_share = check_share(api_budget_share)
        self.clock: Callable[[], float] = time.time
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "async_action_ids": list(self.async_action_ids),
                "voucherify_conn_id": self.voucherify_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "max_failed_orders": self.max_failed_orders,
                "api_budget_share": self.api_budget_share,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        verdict = await self._wait()
        self.log.info("Async actions %s: %s", verdict.status.value, verdict.message)
        yield TriggerEvent(verdict.to_event())  # type: ignore[no-untyped-call]

    async def _wait(self) -> Verdict:
        hook = VoucherifyHook(self.voucherify_conn_id)

        async def sharing() -> Sharing | None:
            settings = await hook.asettings()
            if not settings.share_list_calls:
                return None
            # Keyed by everything the reads are made with; the shared client reuses these settings.
            return (self.voucherify_conn_id, settings), lambda: VoucherifyHook.of_settings(
                self.voucherify_conn_id, settings
            )

        lists = SharedListReads(hook, sharing)
        try:
            return await await_until_finished(
                hook,
                self.async_action_ids,
                poll_interval=self.poll_interval,
                timeout=self.end_time - self.clock(),
                max_failed_orders=self.max_failed_orders,
                api_budget_share=self.api_budget_share,
                log=self.log,
                clock=self.clock,
                sleep=self.sleep,
                lists=lists,
            )
        except (VoucherifyError, ConnectionConfigError) as exc:
            # A misconfigured connection too: its message names the field, never a secret.
            return Verdict(status=Outcome.ERROR, message=str(exc))
        except Exception as exc:
            # One event, always: an unexpected error becomes an `error` event the task can report.
            self.log.exception("Waiting for async actions %s failed", self.async_action_ids)
            return Verdict(status=Outcome.ERROR, message=f"{type(exc).__name__}: {exc}")
        finally:
            try:
                await lists.aclose()
            finally:  # cancelled again while leaving the shared reads: still close our own client
                await hook.aclose()
