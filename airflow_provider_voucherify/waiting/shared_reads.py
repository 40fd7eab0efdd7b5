"""Shared list reads: the waits of one connection in one triggerer merge their list calls.

A triggerer runs hundreds of :class:`~airflow_provider_voucherify.triggers.async_action.AsyncActionTrigger`
waits in one event loop. Each poll of a wait on several actions reads ``GET /v1/async-actions``,
and each of those HTTP requests costs the triggerer about 1.5 ms of CPU and the project one call of
its ordinary budget. The waits of one connection read the same list, so they share those reads:

- One :class:`ListCoalescer` per running event loop and connection (its id and everything read
  from it: base URL, App ID, keys, timeouts: the trigger hands that key in), with its own client,
  held by the waits that use it (:class:`SharedListReads`) and closed when the last one ends.
- While a shared read is in flight, new list requests queue; when it ends, the queued ones go out
  as one read (:class:`SharedRead`). Nothing waits on a timer: a lone wait makes exactly the
  calls it would make alone, and requests that arrive in the same loop turn share the first read.
- Each waiter gets the entries of its own ids as an
  :class:`~airflow_provider_voucherify.async_actions.ActionWindow`, which its tracker treats as a
  whole window: ids it does not hold fall back to the wait's own
  ``GET /v1/async-actions/{id}`` (results are always read per wait), and the tracker's cut-off
  check still sees the oldest entry read.
- The read runs in its own task: cancelling a wait (the triggerer cancels triggers it drops) only
  stops that wait's waiting. An error of the read (a 429 the hook does not sleep through, a 5xx
  or lost connection after its retries) reaches every waiter of that read as the same exception,
  and each wait's planner handles it as its own; the latest ``X-Rate-Limit-*`` view reaches each
  waiter's hook (``hook.rate_limit``), which the planner reads.

The connection extra ``share_list_calls`` (default true) turns sharing off for a connection. The
sync path (the operator's wait, the poke-mode sensor) never shares: one wait per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import weakref
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from airflow_provider_voucherify.async_actions import ActionList, ActionWindow, AsyncAction
from airflow_provider_voucherify.exceptions import VoucherifyError, VoucherifyTransportError
from airflow_provider_voucherify.rate_limits import RateLimit
from airflow_provider_voucherify.waiting.tracker import LIST_PAGE_SIZE, SHORT_PAGE_EXTRA, ListPage


class ListClient(Protocol):
    """The calls made of a client here (``VoucherifyHook`` has them); ``rate_limit`` is its latest view."""

    rate_limit: RateLimit | None

    async def alist_async_actions(
        self, limit: int = ..., end_date: datetime | None = ..., *, ids: Collection[str] | None = ...
    ) -> list[AsyncAction]: ...

    async def aclose(self) -> None: ...


# How a wait's reads may be shared: the key of everything they are read with (a connection's id
# and its settings), and how to open the shared reads' own client; ``None``: not shared.
Sharing = tuple[Hashable, Callable[[], ListClient]]
_Key = Hashable
# The coalescers of each running event loop (a triggerer has one; tests run many, one after another).
_COALESCERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_Key, ListCoalescer]] = (
    weakref.WeakKeyDictionary()
)
# Closing coalescers, kept referenced until closed (a close outlives the cancelled wait that started it).
_CLOSING: set[asyncio.Task[None]] = set()


class SharedRead:
    """One list read for several waiters' ``calls``, planned page by page. Pure: read
    :attr:`page`, hand its answer (filtered to the ids it asked for) to :meth:`take`, repeat
    until :attr:`page` is ``None``; :meth:`take` gives each waiter its answer once it is known.

    The window starts at the latest of the calls' ``end_date`` (at the newest entries if one has
    none) and is read backwards. A waiter is answered once its ids have all been seen, or when
    the read ends: a page comes back short (the list ends there), or the read has made as many
    full pages as all its waiters would have read on their own, ``ceil(ids / 100)`` each (never
    more list calls than they would make alone; the ids still unseen fall back to their own GET).
    Waiters answered early still count: their pages are what lets the read reach the windows of
    older waiters below them, instead of sending those waiters to one GET per id. The first page is
    short (the ids plus ``SHORT_PAGE_EXTRA``) when every call asks for a short page; if it misses
    ids of a waiter whose own window it started at, the read goes on with full pages and that
    waiter's answer says so (``widened``), as a lone tracker would (a waiter whose window starts
    lower was not read from its own start: it keeps its short pages). After each page the read
    skips ahead to the newest window still missing ids: the entries in between are nobody's. A
    single call is read exactly as
    :meth:`~airflow_provider_voucherify.waiting.tracker.ActionTracker.cycle` reads it alone.
    """

    def __init__(self, calls: Sequence[ListPage]) -> None:
        self._calls = list(calls)
        self._waiting = set(range(len(calls)))
        self._unseen: set[str] = set().union(*(call.ids for call in calls))
        self._found: dict[str, AsyncAction] = {}
        starts = [call.end_date for call in calls]
        end_date = None if None in starts else max(start for start in starts if start is not None)
        short = end_date is not None and all(call.limit < LIST_PAGE_SIZE for call in calls)
        union = len(self._unseen)
        limit = min(LIST_PAGE_SIZE, union + SHORT_PAGE_EXTRA) if short else LIST_PAGE_SIZE
        self.page: ListPage | None = ListPage(end_date, frozenset(self._unseen), limit)
        self.calls = 0  # list calls made so far
        self._full_pages = 0
        self._cap = sum(max(1, math.ceil(len(call.ids) / LIST_PAGE_SIZE)) for call in calls)
        self._widened: set[int] = set()
        self._read = 0
        self._oldest: datetime | None = None

    def _answer(self, n: int) -> ActionWindow:
        ids = self._calls[n].ids
        return ActionWindow(
            [self._found[i] for i in ids if i in self._found],
            page_size=self._read,
            last_created_at=self._oldest,
            calls=self.calls,
            widened=n in self._widened,
        )

    def take(self, answer: ActionList) -> list[tuple[int, ActionWindow]]:
        """Record the answer to :attr:`page`; returns ``(index of the call, its answer)`` for the
        waiters answered now, and sets :attr:`page` to the next page to read, or ``None``."""
        page = self.page
        assert page is not None, "the read is over"
        self.calls += 1
        for action in answer:
            if action.id in self._unseen:
                self._found[action.id] = action
                self._unseen.discard(action.id)
        self._read += answer.page_size
        last = answer.last_created_at
        self._oldest = last if last is not None else self._oldest
        done = [n for n in sorted(self._waiting) if self._unseen.isdisjoint(self._calls[n].ids)]
        self._waiting.difference_update(done)
        answered = [(n, self._answer(n)) for n in done]
        limit = page.limit
        if page.limit < LIST_PAGE_SIZE:
            limit = LIST_PAGE_SIZE  # others' actions fill the short page: full pages from now on
        else:
            self._full_pages += 1
        if (
            not self._waiting
            or answer.page_size < page.limit
            or last is None
            or self._full_pages >= self._cap
        ):
            self.page = None
        else:
            if page.limit < LIST_PAGE_SIZE:
                self._widened.update(n for n in self._waiting if self._calls[n].end_date == page.end_date)
            starts = [self._calls[n].end_date for n in self._waiting]
            end_date = last if None in starts else min(last, max(s for s in starts if s is not None))
            waited_for = frozenset(i for n in self._waiting for i in self._calls[n].ids if i in self._unseen)
            self.page = ListPage(end_date, waited_for, limit)
        if self.page is None:
            answered += [(n, self._answer(n)) for n in sorted(self._waiting)]
        return answered


@dataclass
class _Request:
    call: ListPage
    answer: asyncio.Future[ActionWindow] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class ListCoalescer:
    """The shared list reads of one connection in one event loop.

    :param hook: the client the reads are made with (its own HTTP client), closed by :meth:`aclose`
    """

    def __init__(self, hook: ListClient, key: _Key) -> None:
        self.hook = hook
        self.key = key
        self.members = 0
        self.reads = 0  # shared reads made
        self.calls = 0  # list calls those reads made
        self._queue: list[_Request] = []
        self._task: asyncio.Task[None] | None = None

    async def read(self, call: ListPage) -> ActionWindow:
        """``call``'s answer from the next shared read; raises that read's error.

        Cancelling the caller only stops its waiting: the read goes on for the others.
        """
        request = _Request(call)
        self._queue.append(request)
        if self._task is None:
            # In a context of its own: a task copies its creator's context variables, and the
            # triggerer binds each trigger's log fields (trigger_id, dag_id, task_id...) there.
            # The reads' own warnings (retries) are the triggerer's, not the first asker's.
            loop = asyncio.get_running_loop()
            self._task = contextvars.Context().run(loop.create_task, self._serve())
        return await request.answer

    async def _serve(self) -> None:
        batch: list[_Request] = []
        try:
            while self._queue:
                batch = [request for request in self._queue if not request.answer.done()]
                self._queue = []
                if batch:
                    await self._answer(batch)
        finally:
            self._task = None
            # Only when the read itself was cancelled (the loop is closing): a transient error,
            # which a wait still running would retry, rather than a cancellation it did not ask for.
            for request in batch + self._queue:
                if not request.answer.done():
                    request.answer.set_exception(
                        VoucherifyTransportError("The shared list read was cancelled")
                    )

    async def _answer(self, batch: list[_Request]) -> None:
        self.reads += 1
        read = SharedRead([request.call for request in batch])
        try:
            while (page := read.page) is not None:
                if all(request.answer.done() for request in batch):
                    return  # every waiter left (cancelled): no call that nobody asked for
                self.calls += 1
                answer = await self.hook.alist_async_actions(
                    limit=page.limit, end_date=page.end_date, ids=page.ids
                )
                assert isinstance(answer, ActionList)
                for n, window in read.take(answer):
                    if not batch[n].answer.done():
                        batch[n].answer.set_result(window)
        except Exception as exc:  # every waiter of this read gets its error, whatever it is
            for request in batch:
                if not request.answer.done():
                    request.answer.set_exception(exc)

    def join(self) -> ListCoalescer:
        self.members += 1
        return self

    async def leave(self) -> None:
        """One wait is done with it; the last one closes its client (even if cancelled meanwhile)."""
        self.members -= 1
        if self.members:
            return
        loop = asyncio.get_running_loop()
        by_key = _COALESCERS.get(loop, {})
        if by_key.get(self.key) is self:
            del by_key[self.key]
        closing = loop.create_task(self.aclose())
        _CLOSING.add(closing)
        closing.add_done_callback(_CLOSING.discard)
        await asyncio.shield(closing)

    async def aclose(self) -> None:
        """Cancel a read in flight and close the hook's client."""
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.hook.aclose()


def coalescers() -> list[ListCoalescer]:
    """The running event loop's coalescers in use (for tests and benchmarks)."""
    return list(_COALESCERS.get(asyncio.get_running_loop(), {}).values())


def _join(key: _Key, open_client: Callable[[], ListClient]) -> ListCoalescer:
    by_key = _COALESCERS.setdefault(asyncio.get_running_loop(), {})
    coalescer = by_key.get(key)
    if coalescer is None:
        coalescer = by_key[key] = ListCoalescer(open_client(), key)
    return coalescer.join()


class SharedListReads:
    """One wait's list reads: shared through its connection's :class:`ListCoalescer` in this event
    loop, or the hook's own when the connection's ``share_list_calls`` extra is false.

    Call :meth:`aclose` when the wait ends (it may close the shared client).

    :param hook: the wait's own client: it reads alone when not shared, and keeps the latest
        rate-limit view of the shared reads too
    :param sharing: says, once, how this wait's reads are shared (``None``: they are not)
    """

    def __init__(self, hook: ListClient, sharing: Callable[[], Awaitable[Sharing | None]]) -> None:
        self._hook = hook
        self._sharing = sharing
        self._coalescer: ListCoalescer | None = None
        self._decided = False

    async def read(self, call: ListPage) -> list[AsyncAction]:
        """``GET /v1/async-actions`` for ``call``: an :class:`ActionWindow` when shared.

        :raises VoucherifyError: the (shared) read's error, as the hook raises it
        """
        if not self._decided:
            shared = await self._sharing()
            if shared is not None:
                self._coalescer = _join(*shared)
            self._decided = True
        coalescer = self._coalescer
        if coalescer is None:
            return await self._hook.alist_async_actions(
                limit=call.limit, end_date=call.end_date, ids=call.ids
            )
        try:
            return await coalescer.read(call)
        except VoucherifyError:
            raise
        except Exception:
            # Not the API's answer but reading it (an entry the models refuse): the shared read
            # parsed every waiter's entries, so one wait's odd entry must not fail the others.
            # Read alone, as without sharing: only this wait's own entries are parsed.
            return await self._hook.alist_async_actions(
                limit=call.limit, end_date=call.end_date, ids=call.ids
            )
        finally:
            seen = coalescer.hook.rate_limit
            mine = self._hook.rate_limit
            if seen is not None and (mine is None or seen.seen_at >= mine.seen_at):
                self._hook.rate_limit = seen

    async def aclose(self) -> None:
        coalescer, self._coalescer = self._coalescer, None
        if coalescer is not None:
            await coalescer.leave()
