"""ExportTrigger: waits for Voucherify exports inside the triggerer, without holding a worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_voucherify.exceptions import ConnectionConfigError, VoucherifyError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.waiting.exports import ExportsWaited, await_exports
from airflow_provider_voucherify.waiting.pacing import DEFAULT_API_BUDGET_SHARE, check_share

CLASSPATH = "airflow_provider_voucherify.triggers.export.ExportTrigger"


class ExportTrigger(BaseTrigger):
    """Polls ``GET /v1/exports/{id}`` until every export is final or ``end_time`` passes; fires one event.

    The event's payload is :meth:`~airflow_provider_voucherify.waiting.exports.ExportsWaited.to_event`
    (read it back with ``ExportsWaited.from_event``): ``status`` ``success`` (every export
    ``DONE``), ``failed`` (one ended ``ERROR`` or any other status but ``DONE``: the message names
    the export and its status), ``timeout`` or ``error`` (a call waiting cannot cure: bad
    credentials, an unknown id, the billing cycle's quota), and each export's last status. It never
    carries the download URL (its token). Polls are planned by
    :func:`~airflow_provider_voucherify.waiting.exports.plan_export_wait`: after ``poll_interval``,
    the gap doubling while the exports run, within ``api_budget_share`` of the plan's ordinary
    calls; 429s and server errors are waited out until ``end_time``.

    :param export_ids: the exports to wait for (``exp_...``)
    :param voucherify_conn_id: the Voucherify connection, read without blocking the event loop
    :param poll_interval: the shortest time between two polls, in seconds
    :param end_time: wall-clock deadline as epoch seconds; kept as is when the trigger is rebuilt
    :param api_budget_share: the largest share of the plan's ordinary API calls the wait may
        spend, in (0, 1]

    ``clock`` (epoch seconds) and ``sleep`` are the wait's seams: tests replace them on an instance
    to run the wait on a fake clock. They are not serialized.
    """

    def __init__(
        self,
        export_ids: Sequence[str],
        voucherify_conn_id: str,
        poll_interval: float,
        end_time: float,
        api_budget_share: float = DEFAULT_API_BUDGET_SHARE,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.export_ids = [str(export_id) for export_id in export_ids]
        self.voucherify_conn_id = voucherify_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = float(end_time)
        self.api_budget_share = check_share(api_budget_share)
        self.clock: Callable[[], float] = time.time
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "export_ids": list(self.export_ids),
                "voucherify_conn_id": self.voucherify_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "api_budget_share": self.api_budget_share,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        waited = await self._wait()
        self.log.info("Exports %s: %s", waited.status, waited.message)
        yield TriggerEvent(waited.to_event())  # type: ignore[no-untyped-call]

    async def _wait(self) -> ExportsWaited:
        hook = VoucherifyHook(self.voucherify_conn_id)
        try:
            return await await_exports(
                hook,
                self.export_ids,
                poll_interval=self.poll_interval,
                timeout=self.end_time - self.clock(),
                api_budget_share=self.api_budget_share,
                log=self.log,
                clock=self.clock,
                sleep=self.sleep,
            )
        except (VoucherifyError, ConnectionConfigError) as exc:
            return ExportsWaited("error", str(exc))
        except Exception as exc:
            # One event, always: an unexpected error becomes an `error` event the task can report.
            self.log.exception("Waiting for exports %s failed", self.export_ids)
            return ExportsWaited("error", f"{type(exc).__name__}: {exc}")
        finally:
            await hook.aclose()
