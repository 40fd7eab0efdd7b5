"""Waiting for exports (``GET /v1/exports/{id}``): one I/O-free planner and its two runners.

An export has no progress to measure (the spec's export object carries a ``status`` only:
``SCHEDULED``, ``IN_PROGRESS``, then ``DONE`` or ``ERROR``), so :func:`plan_export_wait` polls
the unfinished exports after ``poll_interval``, doubling the gap while they run (up to
``MAX_IDLE_INTERVALS`` intervals and ``MAX_POLL_GAP``), never sooner than the call budget
allows (:class:`~.pacing.ApiBudget`: within ``api_budget_share`` of the plan's ordinary calls, as
the ``X-Rate-Limit-*`` headers report it), and gives up at the deadline. Errors are met as the
async-action wait meets them (:mod:`~.planner`): a 429 sleeps until its window reopens, other
transient errors back off, the rest is raised.

:func:`wait_for_exports` (``time.sleep``, the sync ``get_export``: the operator in the worker)
and :func:`await_exports` (``asyncio.sleep``, ``aget_export``: the trigger) carry the steps out.
Nothing here imports Airflow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_voucherify.error_policy import waiting_can_cure
from airflow_provider_voucherify.exceptions import VoucherifyError, VoucherifyRateLimitError
from airflow_provider_voucherify.waiting.pacing import DEFAULT_API_BUDGET_SHARE, ApiBudget, RateLimitView
from airflow_provider_voucherify.waiting.planner import (
    MAX_IDLE_INTERVALS,
    MAX_POLL_GAP,
    Sleep,
    WaitPolicy,
    error_backoff,
)
from airflow_provider_voucherify.waiting.tracker import Log

DONE = "DONE"
UNFINISHED = frozenset({"SCHEDULED", "IN_PROGRESS"})


class ExportReader(Protocol):
    """The sync call the worker's runner makes (``VoucherifyHook`` has it)."""

    @property
    def rate_limit(self) -> RateLimitView | None: ...

    def get_export(self, export_id: str) -> dict[str, Any]: ...


class AsyncExportReader(Protocol):
    """The async twin, for the trigger."""

    @property
    def rate_limit(self) -> RateLimitView | None: ...

    async def aget_export(self, export_id: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PollExports:
    """Read these exports once each (``GET /v1/exports/{id}``)."""

    export_ids: tuple[str, ...]


@dataclass(frozen=True)
class ExportsPolled:
    """What a poll gave: the exports read (by id), the calls made, its error, the rate-limit view."""

    now: float
    exports: Mapping[str, Mapping[str, Any]]
    calls: int
    error: BaseException | None = None
    rate_limit: RateLimitView | None = None


@dataclass
class ExportsWaited:
    """How the wait ended: ``status`` ``success`` (every export ``DONE``), ``failed`` (one ended
    otherwise: ``message`` names it and its status), ``timeout`` or ``error`` (a call waiting
    cannot cure). ``statuses``: each export's last status seen; ``exports``: the last export
    objects read (not carried in an event: their ``result.url`` holds a download token)."""

    status: str
    message: str
    statuses: dict[str, str] = field(default_factory=dict)
    exports: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_event(self) -> dict[str, Any]:
        """The trigger event's payload: plain JSON, no download URL."""
        return {"status": self.status, "message": self.message, "statuses": dict(self.statuses)}

    @classmethod
    def from_event(cls, payload: Mapping[str, Any]) -> ExportsWaited:
        statuses = payload.get("statuses") or {}
        return cls(str(payload.get("status")), str(payload.get("message")), dict(statuses))


def _outcome(statuses: Mapping[str, str | None], exports: dict[str, dict[str, Any]]) -> ExportsWaited | None:
    """The wait's end once every export is final, else ``None``."""
    if any(status is None or status in UNFINISHED for status in statuses.values()):
        return None
    final = {export_id: str(status) for export_id, status in statuses.items()}
    failed = [
        f"Export {export_id} ended {status}, not DONE"
        for export_id, status in final.items()
        if status != DONE
    ]
    if failed:
        return ExportsWaited("failed", "; ".join(failed), final, exports)
    return ExportsWaited("success", f"{len(final)} export(s) DONE", final, exports)


def plan_export_wait(
    export_ids: Sequence[str], policy: WaitPolicy, *, now: float, deadline: float | None
) -> Generator[PollExports | Sleep, ExportsPolled | None, ExportsWaited]:
    """Plan a wait for ``export_ids`` from ``now`` until every one is final or ``deadline`` passes.

    Starts with a sleep of ``poll_interval`` (an export just created is ``SCHEDULED``). Send an
    :class:`ExportsPolled` after each :class:`PollExports` and ``None`` after each ``Sleep``.
    Returns how the wait ended; raises the polled error that waiting cannot cure.
    """
    started = now
    statuses: dict[str, str | None] = dict.fromkeys(export_ids)
    exports: dict[str, dict[str, Any]] = {}
    budget = ApiBudget(policy.api_budget_share, policy.budget_window)
    longest = max(policy.poll_interval, MAX_POLL_GAP if policy.max_poll_gap is None else policy.max_poll_gap)
    failures = idle = 0
    wake, why, warning = now + policy.poll_interval, "an export takes time", False
    while True:
        if deadline is not None:
            wake = min(wake, deadline)
        if wake > now:
            running = ", ".join(f"{key} {value or 'unread'}" for key, value in statuses.items())
            yield Sleep(wake, f"exports {running}; next poll in {wake - now:.0f} s ({why})", warning)
            now = wake
        if deadline is not None and now >= deadline:
            return ExportsWaited(
                "timeout", f"exports unfinished after {now - started:.0f} s", _seen(statuses)
            )
        pending = tuple(key for key, value in statuses.items() if value is None or value in UNFINISHED)
        polled = yield PollExports(pending)
        assert polled is not None, "send an ExportsPolled after a PollExports"
        now, exc = polled.now, polled.error
        for key, export in polled.exports.items():
            statuses[key] = str(export.get("status"))
            exports[key] = dict(export)
        reopens_at = (
            exc.retry_at if isinstance(exc, VoucherifyRateLimitError) and waiting_can_cure(exc) else None
        )
        budget.spend(polled.calls, polled.rate_limit, now, reopens_at=reopens_at)
        if (ended := _outcome(statuses, exports)) is not None:
            return ended
        warning = exc is not None
        if exc is not None:
            if reopens_at is not None:
                wake, why = max(reopens_at, now), f"rate limited ({exc}); the window reopens"
            elif waiting_can_cure(exc):
                failures = failures + 1 if not polled.exports else 0
                wake, why = (
                    now + error_backoff(policy.poll_interval, failures),
                    f"polling failed for now: {exc}",
                )
            else:
                raise exc
        else:
            failures = 0
            wake = now + min(policy.poll_interval * min(2.0**idle, MAX_IDLE_INTERVALS), longest)
            idle, why = idle + 1, "still running"
        if (allowed := budget.next_allowed()) > wake:
            wake = allowed
            why += f"; keeping to {budget.share:.0%} of {budget.limit} calls per window"


def _seen(statuses: Mapping[str, str | None]) -> dict[str, str]:
    return {key: value for key, value in statuses.items() if value is not None}


def _report(step: Sleep, log: Log) -> None:
    if step.warning:
        log.warning("Waiting for the export: %s", step.note)
    elif step.report:
        log.info("Waiting for the export: %s", step.note)


def _io(
    export_ids: Sequence[str],
    poll_interval: float,
    timeout: float | None,
    api_budget_share: float,
    log: Log,
    clock: Callable[[], float],
    rate_limit: Callable[[], RateLimitView | None],
) -> Generator[float | str, Any, ExportsWaited]:
    """The plan as the runners see it: yields seconds to sleep (send ``None`` back) or an export id
    to read (send back the export, or the ``VoucherifyError`` reading it raised)."""
    started = clock()
    deadline = None if timeout is None else started + timeout
    plan = plan_export_wait(
        export_ids, WaitPolicy(poll_interval, api_budget_share), now=started, deadline=deadline
    )
    try:
        step = next(plan)
        while True:
            if isinstance(step, Sleep):
                _report(step, log)
                yield max(0.0, step.until - clock())
                step = plan.send(None)
                continue
            read: dict[str, dict[str, Any]] = {}
            error: BaseException | None = None
            for export_id in step.export_ids:
                answer = yield export_id
                if isinstance(answer, BaseException):
                    error = answer
                    break
                read[export_id] = answer
            calls = len(read) + (error is not None)
            step = plan.send(ExportsPolled(clock(), read, calls, error, rate_limit()))
    except StopIteration as stop:
        result: ExportsWaited = stop.value
        return result


def wait_for_exports(
    client: ExportReader,
    export_ids: Sequence[str],
    *,
    poll_interval: float,
    timeout: float | None,
    api_budget_share: float = DEFAULT_API_BUDGET_SHARE,
    log: Log,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> ExportsWaited:
    """Poll ``GET /v1/exports/{id}`` with ``client``'s sync calls until every export is final or
    ``timeout`` seconds pass (``None``: no limit); raises the errors waiting cannot cure."""
    steps = _io(export_ids, poll_interval, timeout, api_budget_share, log, clock, lambda: client.rate_limit)
    try:
        request = next(steps)
        while True:
            if isinstance(request, float):
                sleep(request)
                request = steps.send(None)
                continue
            try:
                answer: Any = client.get_export(request)
            except VoucherifyError as exc:
                answer = exc
            request = steps.send(answer)
    except StopIteration as stop:
        result: ExportsWaited = stop.value
        return result


async def await_exports(
    client: AsyncExportReader,
    export_ids: Sequence[str],
    *,
    poll_interval: float,
    timeout: float | None,
    api_budget_share: float = DEFAULT_API_BUDGET_SHARE,
    log: Log,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> ExportsWaited:
    """Async twin of :func:`wait_for_exports`, for the trigger (``aget_export``, ``asyncio.sleep``)."""
    steps = _io(export_ids, poll_interval, timeout, api_budget_share, log, clock, lambda: client.rate_limit)
    try:
        request = next(steps)
        while True:
            if isinstance(request, float):
                await sleep(request)
                request = steps.send(None)
                continue
            try:
                answer: Any = await client.aget_export(request)
            except VoucherifyError as exc:
                answer = exc
            request = steps.send(answer)
    except StopIteration as stop:
        result: ExportsWaited = stop.value
        return result
