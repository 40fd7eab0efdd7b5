"""The reconciliation's first reads: each async action's result, and the failed orders file.

Only ``GET /v1/async-actions/{id}`` carries an import's ``result`` (``done_count``,
``failed_count``, the ``failed`` entries): the list endpoint shows status and progress but, as the
API reference says, no result. So the counts cost one read per action (50 for 100,000 orders in
batches of 2,000), made once per reconciliation: a try that waits for a rate limit keeps what it
read, and one that defers carries the totals on.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from contextlib import ExitStack
from typing import Any, Protocol

from airflow_provider_voucherify.importing.rejects import JsonLinesFile, rejects_location
from airflow_provider_voucherify.importing.source import Location
from airflow_provider_voucherify.models import AsyncAction
from airflow_provider_voucherify.reconcile.report import ActionTotals


class ActionResults(Protocol):
    """The one call made here (``VoucherifyHook`` has it)."""

    def get_async_action(self, async_action_id: str) -> AsyncAction: ...


def read_actions(
    hook: ActionResults,
    ids: list[str],
    *,
    read: MutableMapping[str, AsyncAction],
    failed_orders_path: Location | None,
    log: logging.Logger | Any,
) -> tuple[ActionTotals, set[str]]:
    """Read the actions not in ``read`` yet (adding them), then write the failed orders file.

    :param read: the actions read so far, by id: a call interrupted by a rate limit leaves there
        what it had read, so the next call reads only the rest
    :param failed_orders_path: JSON Lines of ``{"source_id", "reason", "async_action_id"}`` for
        every order Voucherify refused (local path or URI); ``None`` writes nothing
    :returns: the totals, and the refused orders' source ids
    :raises VoucherifyRateLimitError: as the hook does, with ``read`` holding the progress
    """
    for action_id in ids:
        if action_id not in read:
            read[action_id] = hook.get_async_action(action_id)
    totals = ActionTotals.of([read[action_id] for action_id in ids])
    if totals.unfinished():
        return totals, set()
    refused: set[str] = set()
    location = rejects_location(failed_orders_path)
    with ExitStack() as stack:
        failed_file = stack.enter_context(JsonLinesFile(location)) if location is not None else None
        for action in totals.actions:
            for entry in action.import_result.failed if action.import_result else ():
                if entry.source_id is not None:
                    refused.add(entry.source_id)
                if failed_file is not None:
                    failed_file.write_entry(
                        {"source_id": entry.source_id, "reason": entry.reason, "async_action_id": action.id}
                    )
    if location is not None:
        log.info("The %d orders Voucherify refused are listed in %s", totals.failed, location)
    if totals.failed_without_source_id:
        log.warning(
            "%d refused orders have no source_id: a sampled order among them reads as missing",
            totals.failed_without_source_id,
        )
    return totals, refused
