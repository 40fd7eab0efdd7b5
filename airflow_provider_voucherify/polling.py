"""Polling a set of async actions on a small API budget: shared by the sensor, the trigger and the operator.

Plans allow about 100 calls a minute, so one poll cycle over K unfinished actions costs at most
``ceil(K / 100)`` list calls (``GET /v1/async-actions`` carries status and progress), plus one
``GET /v1/async-actions/{id}`` per action the first time it is seen final (only that answer
carries the ``result``), plus one GET per id the list window did not show. A single unfinished
action is read with its own GET: one call either way, and that answer already holds the result.

:class:`ActionTracker` is the I/O-free part: it remembers what it has seen and plans the calls
of a cycle as a generator. :func:`poll_once` and :func:`apoll_once` only carry those calls to
the hook's sync or async methods; :func:`~airflow_provider_voucherify.verdict.evaluate` decides.
"""

from __future__ import annotations

import ast
import json
import math
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_voucherify.exceptions import (
    VoucherifyApiError,
    VoucherifyAuthError,
    VoucherifyTransportError,
)
from airflow_provider_voucherify.models import ActionStatus, AsyncAction
from airflow_provider_voucherify.verdict import (
    MAX_FAILED_ORDERS_IN_SUMMARY,
    Outcome,
    Verdict,
    describe_progress,
    evaluate,
)

if TYPE_CHECKING:
    from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook

LIST_PAGE_SIZE = 100
PROGRESS_LOG_INTERVAL = 60.0
# After consecutive transient errors the wait doubles, up to this (or poll_interval, if longer).
MAX_ERROR_BACKOFF = 300.0
# The list's end_date is exclusive and the API's clock keeps milliseconds: starting the window a
# second after the newest pending action cannot cut it off, and skips whatever was queued later.
WINDOW_MARGIN = timedelta(seconds=1)


def is_transient(exc: BaseException) -> bool:
    """Whether waiting longer may cure ``exc``: 429, 5xx and lost connections, never 401/403/404."""
    if isinstance(exc, VoucherifyTransportError):
        return True
    return (
        isinstance(exc, VoucherifyApiError)
        and not isinstance(exc, VoucherifyAuthError)
        and (exc.status_code == 429 or exc.status_code >= 500)
    )


def error_backoff(poll_interval: float, failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive transient errors (0: none, poll as usual)."""
    if failures <= 0:
        return poll_interval
    return min(poll_interval * 2.0 ** (failures - 1), max(poll_interval, MAX_ERROR_BACKOFF))


def action_ids(value: Any) -> list[str]:
    """One id, a list of ids, or a rendered template of a list (JSON or Python literal) as a list.

    Nested lists (the XCom of a mapped ``ImportOrdersOperator``) are flattened; duplicates dropped.
    An empty list (an import that sent nothing) gives ``[]``: nothing to wait for.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise ValueError(f"async_action_ids is not a list of ids: {text[:200]!r}") from None
        else:
            value = [text]
    ids: list[str] = []
    for item in value if isinstance(value, Iterable) else [value]:
        parts = action_ids(item) if isinstance(item, Iterable) and not isinstance(item, str) else [item]
        for part in parts:
            if not isinstance(part, str) or not part.strip():
                raise ValueError(f"An async action id must be a non-empty string, got {part!r}")
            if part.strip() not in ids:
                ids.append(part.strip())
    return ids


@dataclass(frozen=True)
class ListPage:
    """Call ``list_async_actions(limit=100, end_date=end_date)``."""

    end_date: datetime | None


@dataclass(frozen=True)
class Fetch:
    """Call ``get_async_action(async_action_id)``."""

    async_action_id: str


class Log(Protocol):
    """What is used of a logger (stdlib, structlog, or Airflow's ``self.log``)."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


Call = ListPage | Fetch
Answer = list[AsyncAction] | AsyncAction | None


class ActionTracker:
    """What is known about a set of async actions, and which calls the next cycle needs.

    :param ids: the async action ids to wait for
    :param max_failed_orders: failed orders tolerated over all actions (see ``evaluate``)
    :param eager_results: read an action's result as soon as it is ``DONE``, so a ``DONE`` import
        over the tolerance fails the wait early. Without it, results of ``DONE`` actions are read
        only once every action is final: cheaper when the tracker does not outlive a poke
        (``reschedule`` mode, the poke before deferring). ``FAILED`` actions are read at once.
    """

    def __init__(self, ids: Sequence[str], *, max_failed_orders: int = 0, eager_results: bool = True) -> None:
        if max_failed_orders < 0:
            raise ValueError(f"max_failed_orders must not be negative, got {max_failed_orders}")
        self.ids = action_ids(ids)
        self.max_failed_orders = max_failed_orders
        self.eager_results = eager_results
        self._last: dict[str, AsyncAction] = {}
        self._complete: set[str] = set()
        self.answers = 0  # answers recorded so far: a cycle that adds some made progress

    def _is_final(self, action_id: str) -> bool:
        action = self._last.get(action_id)
        return action is not None and action.status.is_final

    def record(self, action: AsyncAction, *, with_result: bool) -> None:
        """Remember an answer; ``with_result`` for a ``GET /v1/async-actions/{id}`` answer."""
        self.answers += 1
        if action.id not in self.ids or action.id in self._complete:
            return
        if with_result and action.status.is_final:
            result = action.import_result
            if result is not None and len(result.failed) > MAX_FAILED_ORDERS_IN_SUMMARY:
                # Keep memory bounded: no summary or message shows more of one action's failures.
                result = result.model_copy(update={"failed": result.failed[:MAX_FAILED_ORDERS_IN_SUMMARY]})
                action = action.model_copy(update={"result": result})
            self._complete.add(action.id)
        self._last[action.id] = action

    def cycle(self) -> Generator[Call, Answer, None]:
        """Plan one poll cycle: yields calls, is sent their answers, records them as they come."""
        unfinished = [i for i in self.ids if not self._is_final(i)]
        unseen = set(unfinished)
        if len(unfinished) == 1:
            answer = yield Fetch(unfinished[0])
            assert isinstance(answer, AsyncAction)
            self.record(answer, with_result=True)
            unseen.clear()
        elif unfinished:
            end_date = self._window_start(unfinished)
            for _ in range(math.ceil(len(unfinished) / LIST_PAGE_SIZE)):
                page = yield ListPage(end_date)
                assert isinstance(page, list)
                for action in page:
                    if action.id in unseen:
                        self.record(action, with_result=False)
                        unseen.discard(action.id)
                if not unseen or len(page) < LIST_PAGE_SIZE or page[-1].created_at is None:
                    break
                end_date = page[-1].created_at
        for action_id in self._to_fetch(unseen):
            answer = yield Fetch(action_id)
            assert isinstance(answer, AsyncAction)
            self.record(answer, with_result=True)

    def _window_start(self, unfinished: Sequence[str]) -> datetime | None:
        created = [self._last[i].created_at if i in self._last else None for i in unfinished]
        if any(when is None for when in created):
            return None
        return max(when for when in created if when is not None) + WINDOW_MARGIN

    def _to_fetch(self, unseen: set[str]) -> list[str]:
        """Ids to GET: those the list did not show, and final ones whose result is still unread."""
        finals = {i for i in self.ids if self._is_final(i)}
        read_done = self.eager_results or len(finals) == len(self.ids)
        return [
            i
            for i in self.ids
            if i in unseen
            or (
                i in finals
                and i not in self._complete
                and (read_done or self._last[i].status is ActionStatus.FAILED)
            )
        ]

    def verdict(self) -> Verdict:
        """The verdict over the latest known states.

        Running while an id has not been seen yet, or while every action is final but some
        result is still unread (a cycle cut short by an error): success needs every result.
        """
        missing = [i for i in self.ids if i not in self._last]
        if missing:
            return Verdict(status=Outcome.RUNNING, message=f"{len(missing)} async actions not read yet")
        actions = [self._last[i] for i in self.ids]
        verdict = evaluate(actions, self.max_failed_orders)
        unread = [i for i in self.ids if self._is_final(i) and i not in self._complete]
        if verdict.status is Outcome.SUCCESS and unread:
            return Verdict(
                status=Outcome.RUNNING,
                message=f"{describe_progress(actions)}; results of {len(unread)} not read yet",
            )
        return verdict

    def timed_out(self, waited: float) -> Verdict:
        """The verdict of a wait that ran out of time, with what was known at that point."""
        latest = self.verdict()
        return Verdict(
            status=Outcome.TIMEOUT,
            message=f"Gave up waiting after {waited:.0f} s: {latest.message}",
            summary=latest.summary,
        )


def poll_once(hook: VoucherifyHook, tracker: ActionTracker) -> Verdict:
    """Run one cycle of ``tracker`` with the hook's sync calls; raises the hook's errors."""
    plan = tracker.cycle()
    answer: Answer = None
    try:
        while True:
            call = plan.send(answer)
            if isinstance(call, ListPage):
                answer = hook.list_async_actions(limit=LIST_PAGE_SIZE, end_date=call.end_date)
            else:
                answer = hook.get_async_action(call.async_action_id)
    except StopIteration:
        return tracker.verdict()


async def apoll_once(hook: VoucherifyHook, tracker: ActionTracker) -> Verdict:
    """Async twin of :func:`poll_once`, for the trigger."""
    plan = tracker.cycle()
    answer: Answer = None
    try:
        while True:
            call = plan.send(answer)
            if isinstance(call, ListPage):
                answer = await hook.alist_async_actions(limit=LIST_PAGE_SIZE, end_date=call.end_date)
            else:
                answer = await hook.aget_async_action(call.async_action_id)
    except StopIteration:
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

    def __call__(self, verdict: Verdict) -> None:
        now = self._clock()
        if self._last is None or now - self._last >= self._interval:
            self._last = now
            self._log.info("Waiting: %s", verdict.message)


def wait_until_finished(
    hook: VoucherifyHook,
    ids: Sequence[str],
    *,
    poll_interval: float,
    timeout: float | None,
    max_failed_orders: int = 0,
    log: Log,
) -> Verdict:
    """Poll until every action is final or ``timeout`` seconds pass (``None``: no limit).

    Transient errors (429, 5xx, lost connections) that outlast the hook's own retries are logged
    and polled through; any other error of the hook is raised. Returns a finished verdict:
    success, failed or timeout; the caller decides what each means for its task.
    """
    tracker = ActionTracker(ids, max_failed_orders=max_failed_orders)
    progress = ProgressLog(log)
    started = time.monotonic()
    failures = 0
    while True:
        answers = tracker.answers
        try:
            verdict = poll_once(hook, tracker)
        except (VoucherifyApiError, VoucherifyTransportError) as exc:
            if not is_transient(exc):
                raise
            # Back off only while nothing gets through; a cycle cut short still made progress.
            failures = failures + 1 if tracker.answers == answers else 0
            log.warning("Polling async actions failed for now, polling again: %s", exc)
        else:
            if verdict.finished:
                return verdict
            failures = 0
            progress(verdict)
        waited = time.monotonic() - started
        if timeout is not None and waited >= timeout:
            return tracker.timed_out(waited)
        pause = error_backoff(poll_interval, failures)
        time.sleep(pause if timeout is None else max(0.0, min(pause, timeout - waited)))
