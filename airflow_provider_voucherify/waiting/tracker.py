"""Polling a set of async actions on a small API budget: shared by the sensor, the trigger and the operator.

Plans allow about 100 calls a minute, so one poll cycle over K unfinished actions costs at most
``ceil(K / 100)`` list calls (``GET /v1/async-actions`` carries status and progress), plus one
``GET /v1/async-actions/{id}`` per action the first time it is seen final (only that answer
carries the ``result``), plus one GET per id the list window did not show. A single unfinished
action is read with its own GET: one call either way, and that answer already holds the result.

:class:`ActionTracker` is I/O-free: it remembers what it has seen and plans the calls of a cycle
as a generator. The runners (:mod:`~airflow_provider_voucherify.waiting.runners`) only carry those
calls to a client's sync or async methods; :func:`~airflow_provider_voucherify.waiting.verdict.evaluate`
decides.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from airflow_provider_voucherify.async_actions import ActionWindow
from airflow_provider_voucherify.models import ActionList, ActionStatus, AsyncAction
from airflow_provider_voucherify.waiting.verdict import (
    MAX_FAILED_ORDERS_IN_SUMMARY,
    Outcome,
    Verdict,
    describe_progress,
    evaluate,
)

LIST_PAGE_SIZE = 100
# Once the list window starts just above the newest pending action, the pending ones are the
# page's first entries unless others' actions were queued among them: a page of the pending ones
# plus this many is enough. It saves the triggerer reading and parsing ~26 KB a poll: in its
# benchmark (500 triggers, 3 actions each, 3 interleaved runs) a 10-entry page cost a median of
# 2.58 ms CPU per trigger per cycle against 3.10 ms for 100 entries.
SHORT_PAGE_EXTRA = 10
# The list's end_date is exclusive and the API's clock keeps milliseconds: the window starts a
# millisecond after the newest pending action, skipping whatever was queued later (a burst of
# imports queued after ours would otherwise push ours pages down). Should the API read end_date
# more coarsely and cut a pending action off, the tracker widens the margin to a second for good.
FINE_WINDOW_MARGIN = timedelta(milliseconds=1)
WINDOW_MARGIN = timedelta(seconds=1)


class InvalidActionIdsError(ValueError, TypeError):
    """``async_action_ids`` is not one id or a list of ids (a ``ValueError`` and a ``TypeError``)."""


def action_ids(value: Any) -> list[str]:
    """One id, a list of ids, or a rendered template of a list (JSON or Python literal) as a list.

    Nested lists (the XCom of a mapped ``ImportOrdersOperator``, or of several imports) are
    flattened, ``None`` entries in them (a mapped task that sent nothing) skipped, and repeats
    dropped. An empty list (an import that sent nothing) gives ``[]``: nothing to wait for.

    :raises InvalidActionIdsError: for anything else (an empty id, a number, unparsable text)
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
                    raise InvalidActionIdsError(
                        f"async_action_ids is not a list of ids: {text[:200]!r}"
                    ) from None
        else:
            value = [text]
    ids: list[str] = []
    if value is None:
        raise InvalidActionIdsError("async_action_ids is None: give one id or a list of ids")
    stack = [value] if isinstance(value, (list, tuple)) else [[value]]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(reversed([part for part in item if part is not None]))
        elif isinstance(item, str) and item.strip():
            if item.strip() not in ids:
                ids.append(item.strip())
        else:
            raise InvalidActionIdsError(f"An async action id must be a non-empty string, got {item!r}")
    return ids


@dataclass(frozen=True)
class ListPage:
    """Call ``list_async_actions(limit=limit, end_date=end_date, ids=ids)``: only ``ids`` are read
    (every entry of the page when ``ids`` is empty)."""

    end_date: datetime | None
    ids: frozenset[str] = frozenset()
    limit: int = LIST_PAGE_SIZE


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
        self.calls = 0  # calls planned so far, answered or not: what the API budget counts
        self._margin = FINE_WINDOW_MARGIN
        self._short_pages = True  # until a short page misses pending actions (others' interleave)

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
            self.calls += 1
            answer = yield Fetch(unfinished[0])
            assert isinstance(answer, AsyncAction)
            self.record(answer, with_result=True)
            unseen.clear()
        elif unfinished:
            end_date = self._window_start(unfinished)
            limit = self._page_limit(len(unfinished), end_date)
            pages = math.ceil(len(unfinished) / LIST_PAGE_SIZE)
            while pages:
                self.calls += 1
                page = yield ListPage(end_date, frozenset(unseen), limit)
                assert isinstance(page, list)
                for action in page:
                    if action.id in unseen:
                        self.record(action, with_result=False)
                        unseen.discard(action.id)
                # A filtered page (ActionList) still knows its full size and its last entry.
                if isinstance(page, ActionList):
                    size, last = page.page_size, page.last_created_at
                else:
                    size, last = len(page), page[-1].created_at if page else None
                if isinstance(page, ActionWindow):
                    # A shared read (shared_lists) paged through the window for us. Each call it made
                    # until it answered us counts as ours: more than the project spent (the read
                    # served others too), so whoever shares our next reads, we never overspend our
                    # budget share. Its widening to full pages is ours too.
                    self.calls += page.calls - 1
                    self._short_pages = self._short_pages and not page.widened
                if self._cut_off(unseen, last):
                    self._margin = WINDOW_MARGIN  # the unseen ones fall back to their own GET
                    break
                if isinstance(page, ActionWindow) or not unseen or size < limit or last is None:
                    break
                if limit < LIST_PAGE_SIZE:
                    # Others' actions fill the short page: read on with full pages, now and later.
                    self._short_pages, limit = False, LIST_PAGE_SIZE
                else:
                    pages -= 1
                end_date = last
        for action_id in self._to_fetch(unseen):
            self.calls += 1
            answer = yield Fetch(action_id)
            assert isinstance(answer, AsyncAction)
            self.record(answer, with_result=True)

    def _cut_off(self, unseen: set[str], last: datetime | None) -> bool:
        """Whether the page skipped an unseen action it should have held (known to be newer than
        its last entry, or any at all when the page was empty): the window started too early."""
        known = [self._last[i].created_at for i in unseen if i in self._last]
        return any(when is not None and (last is None or when > last) for when in known)

    def _page_limit(self, unfinished: int, end_date: datetime | None) -> int:
        """Entries to ask of the list: a short page when the window starts at the pending actions.

        Without a window start (an action not seen yet) the newest entries may be anyone's.
        """
        if end_date is None or not self._short_pages:
            return LIST_PAGE_SIZE
        return min(LIST_PAGE_SIZE, unfinished + SHORT_PAGE_EXTRA)

    def _window_start(self, unfinished: Sequence[str]) -> datetime | None:
        created = [self._last[i].created_at if i in self._last else None for i in unfinished]
        if any(when is None for when in created):
            return None
        return max(when for when in created if when is not None) + self._margin

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

    def milestones(self) -> tuple[int, int, int, int]:
        """How many actions were seen, are ``IN_PROGRESS``, ``DONE``, ``FAILED``: it changes when
        an action is first seen, starts or ends, not with every point of progress."""
        seen = started = done = failed = 0
        for action_id in self.ids:
            action = self._last.get(action_id)
            if action is None:
                continue
            seen += 1
            status = action.status
            if status is ActionStatus.IN_PROGRESS:
                started += 1
            elif status is ActionStatus.DONE:
                done += 1
            elif status is ActionStatus.FAILED:
                failed += 1
        return seen, started, done, failed

    def running(self) -> bool:
        """Whether one of the actions was ``IN_PROGRESS`` when last seen."""
        return any(
            (action := self._last.get(action_id)) is not None and action.status is ActionStatus.IN_PROGRESS
            for action_id in self.ids
        )

    def progress_points(self) -> float:
        """Summed progress in points: 100 per final action, ``progress`` of a running one, 0 unseen."""
        return float(
            sum(
                100 if action.status.is_final else action.progress or 0
                for action_id in self.ids
                if (action := self._last.get(action_id)) is not None
            )
        )

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
