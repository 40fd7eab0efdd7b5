"""The record of accepted batches, and the one rule deciding which of them a later try may skip.

After Voucherify accepts batch ``k``, the operator stores a small dict under
``voucherify_import/batch/<k>`` in ``context["task_state_store"]`` (Airflow 3.3+), before it sends
batch ``k + 1``::

    {"fingerprint": "<SHA-256 of the body>", "async_action_id": "aa_...",
     "base_url": "https://api.voucherify.io", "app_id": "<Application ID>",
     "accepted_at": "2024-05-01T10:00:00+00:00"}

(never the App Token), plus where the batch ended in its source and the source's identity
(``count``, ``ends``, ``source``: see :func:`~airflow_provider_voucherify.importing.continuation.restart`).
The store is scoped to the task instance (dag, run, task, map index) and
outlives a try, a retry and a clear (Airflow 3.3 keeps it after success, too). Other keys may be
added to an entry; readers ignore what they do not know.

The rule (:func:`decide`): a recorded batch is skipped only if its body is unchanged, it was
accepted by the same project (base URL and Application ID) the connection points at now, and its
async action is known there and has not ended ``FAILED``; otherwise it is sent again. Before the
first batch, :func:`state_check` plans how to read the recorded actions' states cheaply: list
pages of ``GET /v1/async-actions`` (100 actions each, newest first, windowed with ``end_date``)
and one ``GET /v1/async-actions/{id}`` for each id the list did not show. So it does not matter
who saw an import fail (this operator's wait, a separate sensor, or nobody): the next try sees
``FAILED`` and sends that batch again.

One small key per batch keeps every write small (the store warns above 64 KB a value); entries
are read from batch 1 up to the first one missing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Generator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from airflow_provider_voucherify.exceptions import VoucherifyApiError
from airflow_provider_voucherify.formats import parse_datetime
from airflow_provider_voucherify.importing.batching import Batch
from airflow_provider_voucherify.models import ActionList, ActionStatus, AsyncAction
from airflow_provider_voucherify.waiting.runners import ActionReader, run_calls
from airflow_provider_voucherify.waiting.tracker import LIST_PAGE_SIZE, Answer, Call, Fetch, ListPage

KEY_PREFIX = "voucherify_import/batch/"
# The list window starts this long after the newest recorded batch was accepted: the worker's
# clock and the API's may disagree. Too short a margin only costs GETs, never a wrong skip.
CLOCK_MARGIN = timedelta(minutes=10)

Entry = Mapping[str, Any]


class StateStore(Protocol):
    """What we use of Airflow's ``TaskStateStoreAccessor``."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


@dataclass(frozen=True)
class Project:
    """Where batches go: the resolved base URL and the Application ID (never the token)."""

    base_url: str
    app_id: str

    def owns(self, entry: Entry) -> bool:
        """Whether ``entry`` was accepted by this project."""
        return entry.get("base_url") == self.base_url and entry.get("app_id") == self.app_id

    def __str__(self) -> str:
        return f"{self.base_url} (application {self.app_id})"


@dataclass(frozen=True)
class SkipDecision:
    """Skip a batch as ``async_action_id``, or (``None``) send it; ``reason`` says why, for the log."""

    async_action_id: str | None
    reason: str


def new_entry(
    batch: Batch,
    async_action_id: str,
    project: Project,
    accepted_at: datetime,
    where: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ledger entry of ``batch`` accepted as ``async_action_id`` by ``project``.

    :param where: where the batch ended in its source, and that source's identity (see
        :mod:`~airflow_provider_voucherify.importing.continuation`), merged into the entry
    """
    return {
        "fingerprint": batch.fingerprint,
        "async_action_id": async_action_id,
        "base_url": project.base_url,
        "app_id": project.app_id,
        "accepted_at": accepted_at.astimezone(timezone.utc).isoformat(),
        **(where or {}),
    }


def skippable(entry: Any, project: Project, states: Mapping[str, ActionStatus | None]) -> str | None:
    """The action id ``entry`` may be skipped as by every part of the rule but the content check
    (same project, known there, not ``FAILED``), else ``None``."""
    action_id = checkable(entry, project)
    status = states.get(action_id) if action_id is not None else None
    return action_id if status is not None and status is not ActionStatus.FAILED else None


def checkable(entry: Any, project: Project) -> str | None:
    """The action id of ``entry`` if its state is worth reading: same project, not known FAILED."""
    if not isinstance(entry, Mapping) or entry.get("failed") or not project.owns(entry):
        return None
    action_id = entry.get("async_action_id")
    return action_id if isinstance(action_id, str) and action_id else None


def decide(
    entry: Any, batch: Batch, project: Project, states: Mapping[str, ActionStatus | None]
) -> SkipDecision:
    """The rule: may ``batch`` be skipped as recorded by an earlier try?

    :param entry: what the ledger holds for the batch's number (``None`` when nothing)
    :param project: the project the connection points at now
    :param states: the recorded actions' current states; an id missing, or mapped to ``None``,
        is not known to ``project`` (never read, or 404)
    """
    if not isinstance(entry, Mapping):
        return SkipDecision(None, "not sent by an earlier try")
    action_id = entry.get("async_action_id")
    if not isinstance(action_id, str) or entry.get("fingerprint") != batch.fingerprint:
        return SkipDecision(None, "its content changed since an earlier try sent it")
    if not project.owns(entry):
        return SkipDecision(None, f"an earlier try sent it as {action_id} to another project, not {project}")
    status = states.get(action_id)
    if entry.get("failed") or status is ActionStatus.FAILED:
        return SkipDecision(None, f"an earlier try sent it as {action_id}, which ended FAILED")
    if status is None:
        return SkipDecision(None, f"an earlier try sent it as {action_id}, which {project} does not know")
    return SkipDecision(action_id, f"sent by an earlier try as {action_id} ({status.value})")


def _window_end(entries: Collection[Entry]) -> datetime | None:
    """``end_date`` of the first list page: just after the newest batch was accepted, if known."""
    moments = []
    for entry in entries:
        try:
            moments.append(parse_datetime(str(entry["accepted_at"])))
        except (KeyError, ValueError):
            return None  # an entry without a time: start from the newest action
    return max(moments) + CLOCK_MARGIN if moments else None


def state_check(entries: Collection[Entry]) -> Generator[Call, Answer, dict[str, ActionStatus | None]]:
    """Plan the reads of the recorded actions' states: yields calls, is sent their answers (run it
    with :func:`~airflow_provider_voucherify.waiting.runners.run_calls`).

    At most ``ceil(K / 100)`` list pages for K actions (each ``GET /v1/async-actions`` entry
    carries the status), then one ``GET /v1/async-actions/{id}`` per id the pages did not show.
    A fetch answered 404 leaves the id unknown. Returns ``{id: status or None}``.
    """
    ids = list(dict.fromkeys(str(entry["async_action_id"]) for entry in entries))
    states: dict[str, ActionStatus | None] = {}
    if len(ids) > 1:
        end_date = _window_end(entries)
        for _ in range(math.ceil(len(ids) / LIST_PAGE_SIZE)):
            page = yield ListPage(end_date)
            assert isinstance(page, list)
            states.update((action.id, action.status) for action in page if action.id in ids)
            # A page filtered to the ids asked for still knows its full size and its last entry.
            if isinstance(page, ActionList):
                size, last = page.page_size, page.last_created_at
            else:
                size, last = len(page), page[-1].created_at if page else None
            if len(states) == len(ids) or size < LIST_PAGE_SIZE or last is None:
                break
            end_date = last
    for action_id in ids:
        if action_id not in states:
            try:
                answer = yield Fetch(action_id)
            except VoucherifyApiError as exc:
                if exc.status_code != 404:
                    raise
                answer = None
            states[action_id] = answer.status if isinstance(answer, AsyncAction) else None
    return states


class BatchLedger:
    """Accepted batches of this task instance, read from and written to a task state store.

    :param store: ``context["task_state_store"]``, or ``None`` where Airflow has none (before 3.3)
    :param project: the project the connection points at; recorded with each batch
    :param resume: read what earlier tries recorded; ``False`` sends every batch again (and
        records them anew)
    """

    def __init__(self, store: StateStore | None, project: Project, *, resume: bool = True) -> None:
        self.store = store
        self.project = project
        self.resume = resume
        self.recalled: dict[int, Entry] = {}  # number -> entry, once read
        self._states: dict[str, ActionStatus | None] = {}

    @classmethod
    def from_context(
        cls,
        context: Any,
        log: logging.Logger | Any,
        *,
        project: Project,
        resume: bool = True,
        resend_safe: bool,
    ) -> BatchLedger:
        """The ledger of the running task; logs once how a retry behaves where there is no store."""
        store = context.get("task_state_store") if hasattr(context, "get") else None
        if store is None:
            log.warning(
                "No task_state_store in the task context (Airflow 3.3+ has one): a retried task sends every "
                "batch again, and resumption relies on source_id upserts%s.",
                "" if resend_safe else " (orders without source_id would be imported twice)",
            )
        return cls(store, project, resume=resume)

    def recall(self) -> dict[int, Entry]:
        """Read the entries of earlier tries, from batch 1 to the first one missing."""
        self.recalled = {}
        if self.store is None or not self.resume:
            return self.recalled
        number = 1
        while isinstance(entry := self.store.get(f"{KEY_PREFIX}{number}"), Mapping):
            self.recalled[number] = entry
            number += 1
        return self.recalled

    def to_check(self) -> list[Entry]:
        """Recalled entries whose action's state decides whether they are skipped."""
        return [entry for entry in self.recalled.values() if checkable(entry, self.project)]

    def check(self, client: ActionReader) -> dict[str, ActionStatus | None]:
        """Recall the entries and read their actions' states through ``client`` (no call if none)."""
        self.recall()
        entries = self.to_check()
        self._states = run_calls(client, state_check(entries)) if entries else {}
        return self._states

    def prepare(self, client: ActionReader, *, continuing_at: int | None, log: logging.Logger | Any) -> None:
        """Before the first batch of a try: read what earlier tries sent (:meth:`check`), and say so.

        :param continuing_at: the batch a try continuing after a rate-limit wait starts at (it
            checked the earlier tries before it deferred: nothing is read again); ``None`` otherwise
        """
        if not self.resume:
            log.info("resume=False: every batch is sent again")
        elif continuing_at is not None:
            log.info("Continuing after a rate-limit wait at batch %d", continuing_at)
        elif states := self.check(client):
            log.info("Earlier tries sent %d batches; their imports now: %s", len(states), tally(states))

    def decide(self, batch: Batch) -> SkipDecision:
        """Skip ``batch`` or send it (see :func:`decide`); call :meth:`check` first."""
        return decide(self.recalled.get(batch.number), batch, self.project, self._states)

    def accepted(self, batch: Batch) -> str | None:
        """The async action id ``batch`` may be skipped as, else ``None``."""
        return self.decide(batch).async_action_id

    def forget_failed(self, async_action_ids: Collection[str]) -> int:
        """Mark the batches whose import ended ``FAILED``: a later try sends them again without
        asking the API. Returns how many batches were marked."""
        if self.store is None or not async_action_ids:
            return 0
        marked, number = 0, 1
        while isinstance(entry := self.store.get(f"{KEY_PREFIX}{number}"), Mapping):
            if entry.get("async_action_id") in async_action_ids:
                self.store.set(f"{KEY_PREFIX}{number}", {**entry, "failed": True})
                marked += 1
            number += 1
        return marked

    def leading_run(self) -> list[Entry]:
        """The recalled entries of batches ``1 .. m`` that may all be skipped by the rule without
        their content (see :func:`skippable`); call :meth:`check` first."""
        run: list[Entry] = []
        for number in range(1, len(self.recalled) + 1):
            entry = self.recalled.get(number)
            if entry is None or skippable(entry, self.project, self._states) is None:
                break
            run.append(entry)
        return run

    def record(
        self,
        batch: Batch,
        async_action_id: str,
        accepted_at: datetime | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> None:
        """Remember that the project accepted ``batch`` as ``async_action_id`` (``where``: see
        :func:`new_entry`)."""
        if self.store is not None:
            when = accepted_at or datetime.now(timezone.utc)
            self.store.set(
                f"{KEY_PREFIX}{batch.number}", new_entry(batch, async_action_id, self.project, when, where)
            )


def tally(states: Mapping[str, ActionStatus | None]) -> str:
    """``2 DONE, 1 FAILED, 1 unknown to this project``: the recorded actions' states, for the log."""
    counts: dict[str, int] = {}
    for status in states.values():
        key = status.value if status is not None else "unknown to this project"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {key}" for key, n in sorted(counts.items()))
