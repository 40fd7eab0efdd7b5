"""The record of accepted batches that lets a retried import skip what was already sent.

After Voucherify accepts batch ``k``, the operator stores ``{"fingerprint", "async_action_id"}``
under ``voucherify_import/batch/<k>`` in ``context["task_state_store"]`` (Airflow 3.3+), before it
sends batch ``k + 1``. The store is scoped to the task instance (dag, run, task, map index), so it
outlives a try: a retry that rebuilds batch ``k`` with the same fingerprint keeps its action id
instead of posting it again. A batch whose content changed (the source was edited between tries)
does not match, and is sent again.

One small key per batch keeps every write small (the store warns above 64 KB a value), and the
retry reads keys only until the first missing one.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any, Protocol

from airflow_provider_voucherify.operators._batching import Batch

KEY_PREFIX = "voucherify_import/batch/"


class StateStore(Protocol):
    """What we use of Airflow's ``TaskStateStoreAccessor``."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


class BatchLedger:
    """Accepted batches of this task instance, read from and written to a task state store.

    :param store: ``context["task_state_store"]``, or ``None`` where Airflow has none (before 3.3)
    """

    def __init__(self, store: StateStore | None) -> None:
        self.store = store
        self._more_on_record = store is not None

    @classmethod
    def from_context(cls, context: Any, log: logging.Logger | Any, *, resend_safe: bool) -> BatchLedger:
        """The ledger of the running task; logs once how a retry behaves where there is no store."""
        store = context.get("task_state_store") if hasattr(context, "get") else None
        if store is None:
            log.warning(
                "No task_state_store in the task context (Airflow 3.3+ has one): a retried task sends every "
                "batch again, and resumption relies on source_id upserts%s.",
                "" if resend_safe else " (orders without source_id would be imported twice)",
            )
        return cls(store)

    def accepted(self, batch: Batch) -> str | None:
        """The async action id of ``batch`` if an earlier try sent this very content."""
        if not self._more_on_record or self.store is None:
            return None
        entry = self.store.get(f"{KEY_PREFIX}{batch.number}")
        if not isinstance(entry, dict):
            # Tries write batches in order: past the first gap there is nothing more to find.
            self._more_on_record = False
            return None
        action_id = entry.get("async_action_id")
        if (
            entry.get("fingerprint") == batch.fingerprint
            and isinstance(action_id, str)
            and not entry.get("failed")
        ):
            return action_id
        return None

    def forget_failed(self, async_action_ids: Collection[str]) -> int:
        """Mark the batches whose import ended ``FAILED`` so that a retry sends them again.

        The entry stays (marked), so a retry keeps reading past it and still skips the later
        batches that did import. Returns how many batches were marked.
        """
        if self.store is None or not async_action_ids:
            return 0
        marked, number = 0, 1
        while isinstance(entry := self.store.get(f"{KEY_PREFIX}{number}"), dict):
            if entry.get("async_action_id") in async_action_ids:
                self.store.set(f"{KEY_PREFIX}{number}", {**entry, "failed": True})
                marked += 1
            number += 1
        return marked

    def record(self, batch: Batch, async_action_id: str) -> None:
        """Remember that Voucherify accepted ``batch`` as ``async_action_id``."""
        if self.store is not None:
            entry = {"fingerprint": batch.fingerprint, "async_action_id": async_action_id}
            self.store.set(f"{KEY_PREFIX}{batch.number}", entry)
