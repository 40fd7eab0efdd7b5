"""``ReconcileOrdersOperator(method="export")``: the shell around the engine's export comparison.

What it does, in order (the logic is the engine's, :mod:`~airflow_provider_voucherify.reconcile`;
this module moves data between it, the hook and Airflow):

1. with action ids, reads each async action (the counts, the refused orders, and when the imports
   began: the export's scope, :func:`~airflow_provider_voucherify.reconcile.export.scope_filters`);
   without (an audit), none, and the export covers the whole project;
2. reads ``orders`` once through the import's pipeline into an on-disk index, drawing the
   read-back sample in the same pass;
3. creates the orders export (and the customers export, when orders name a customer or referrer);
4. waits for them: in the triggerer (:class:`~airflow_provider_voucherify.triggers.export.ExportTrigger`,
   ``deferrable=True``: a resumed try reads ``orders`` again, carrying only the counts, the sample's
   source ids, the refused source ids and the export ids) or in the worker, with the same engine
   (:mod:`~airflow_provider_voucherify.waiting.exports`);
5. downloads and compares every order, writing the missing and differing orders' source lines to
   ``missing_orders_path``; reads the sample back for the item fields; summarizes, then fails.

A rate limit's window met by another call than the export polls (the actions, the exports'
creation and download, the sample's reads) is waited for in the worker.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_voucherify.error_policy import reopens_at
from airflow_provider_voucherify.exceptions import (
    ExportFailedError,
    VoucherifyError,
    VoucherifyRateLimitError,
)
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.importing.pipeline import ImportRules
from airflow_provider_voucherify.importing.preflight import Preflight
from airflow_provider_voucherify.importing.rejects import JsonLinesFile, rejects_location
from airflow_provider_voucherify.importing.source import OrderSource
from airflow_provider_voucherify.models import AsyncAction
from airflow_provider_voucherify.operators._task import AirflowFailException, defer_to, fail_fast, resolved
from airflow_provider_voucherify.rate_limits import sleep_until, when
from airflow_provider_voucherify.reconcile.actions import read_actions
from airflow_provider_voucherify.reconcile.check import CachedReader, check_sample, found_or_none
from airflow_provider_voucherify.reconcile.export import (
    ExportComparison,
    compare_exports,
    create_exports,
    scope_filters,
)
from airflow_provider_voucherify.reconcile.export_index import SentLines, SourceIndex
from airflow_provider_voucherify.reconcile.outcome import ReconciliationError, summarize
from airflow_provider_voucherify.reconcile.report import count_problem, sample_size_of
from airflow_provider_voucherify.reconcile.sample import OrderSample, SourceCounts, draw_sample
from airflow_provider_voucherify.reconcile.state import Drawn, ReconcileState
from airflow_provider_voucherify.waiting.exports import ExportsWaited, wait_for_exports
from airflow_provider_voucherify.waiting.pacing import DEFAULT_API_BUDGET_SHARE
from airflow_provider_voucherify.waiting.tracker import action_ids

try:  # Airflow >= 3.2 moved it to the Task SDK and deprecated the old name.
    from airflow.sdk.exceptions import AirflowException
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import AirflowException  # type: ignore[no-redef,attr-defined,unused-ignore]

if TYPE_CHECKING:
    from airflow_provider_voucherify.operators.reconcile_orders import ReconcileOrdersOperator

T = TypeVar("T")
RESUME_METHOD = "resume_export"


def reconcile_by_export(
    op: ReconcileOrdersOperator, context: Any, state: ReconcileState, waited: ExportsWaited | None = None
) -> dict[str, Any]:
    """Run (``waited`` ``None``) or resume (after the trigger's event) an export reconciliation.

    :raises TaskDeferred: when it defers to the export trigger
    :raises AirflowFailException: when orders are missing or differ, the counts differ, or an
        export ended another way than ``DONE`` (naming its status)
    """
    hook = VoucherifyHook(op.voucherify_conn_id)
    try:
        with fail_fast("Reconciliation"), _workspace() as index:
            if state.exports is None:
                sample, waited = _start(op, context, hook, state, index)
            else:
                sample = _index(op, hook, state, index, only=state.drawn.sample_ids if state.drawn else [])
            comparison = _compare(op, hook, state, index, sample, waited)
    finally:
        hook.close()
    try:
        return summarize(
            state, confidence=op.confidence, max_mismatches=op.max_mismatches, log=op.log, export=comparison
        )
    except ReconciliationError as exc:
        raise AirflowFailException(str(exc)) from exc


@contextmanager
def _workspace() -> Iterator[SourceIndex]:
    with (
        tempfile.TemporaryDirectory(prefix="voucherify-reconcile-") as directory,
        closing(SourceIndex(directory)) as index,
    ):
        yield index


def _in_windows(op: ReconcileOrdersOperator, state: ReconcileState, call: Callable[[], T]) -> T:
    """``call()``, waiting in the worker for a rate limit's window (the billing cycle's quota raises)."""
    while True:
        try:
            return call()
        except VoucherifyRateLimitError as exc:
            retry_at = reopens_at(exc)
            state.waits += 1
            op.log.info(
                "%s limit: reconciliation continues at %s (in %.0f s), waiting in the worker",
                exc.limit_type or "rate",
                when(retry_at),
                max(retry_at - time.time(), 0.0),
            )
            sleep_until(retry_at)


def _index(
    op: ReconcileOrdersOperator,
    hook: VoucherifyHook,
    state: ReconcileState,
    index: SourceIndex,
    *,
    only: list[str] | None = None,
) -> OrderSample:
    """Read ``orders`` as the import did into ``index``; the first time (``only`` ``None``), draw
    the sample and record the counts in ``state``."""
    rules = ImportRules(
        batch_size=op.batch_size,
        require_source_id=op.require_source_id,
        created_at_metadata_key=op.created_at_metadata_key,
        historical_before=op.cutoff,
    )
    preflight = Preflight(hook if op.preflight else None, op.created_at_metadata_key, op.log)
    size = sample_size_of(op.sample_size) if only is None else len(only)

    def read() -> tuple[SourceCounts, OrderSample]:
        index.clear_sent()  # a read a rate limit interrupted starts again
        feed = SentLines(index)
        with OrderSource(resolved(op.orders)) as source:
            return draw_sample(
                feed.records(source),
                size=size,
                seed=state.seed,
                refused=set(state.refused),
                rules=rules,
                check=preflight.check,
                only=only,
                on_sent=feed.on_sent,
            )

    counts, sample = _in_windows(op, state, read)
    if only is None:
        state.drawn = Drawn(
            done=0,
            failed=0,
            failed_without_source_id=0,
            counts=counts,
            count_problem=None,
            sample_ids=[entry.source_id for entry in sample.orders],
            census=sample.is_census,
        )
    return sample


def _start(
    op: ReconcileOrdersOperator, context: Any, hook: VoucherifyHook, state: ReconcileState, index: SourceIndex
) -> tuple[OrderSample, ExportsWaited]:
    """The first try: the actions (with ids), the index, the exports; then the wait (or a deferral)."""
    filters = None
    totals = None
    if op.async_action_ids is not None:
        ids = action_ids(op.async_action_ids)
        read: dict[str, AsyncAction] = {}
        failed_orders = resolved(op.failed_orders_path)
        totals, refused = _in_windows(
            op,
            state,
            lambda: read_actions(hook, ids, read=read, failed_orders_path=failed_orders, log=op.log),
        )
        if unfinished := totals.unfinished():
            names = ", ".join(f"{a.id} ({a.status.value})" for a in unfinished[:10])
            raise AirflowException(f"Reconcile once the import has finished; still running: {names}")
        state.refused = sorted(refused)
        filters = scope_filters(totals.actions)
    sample = _index(op, hook, state, index)
    assert state.drawn is not None
    if totals is not None:
        state.drawn.done, state.drawn.failed = totals.done, totals.failed
        state.drawn.failed_without_source_id = totals.failed_without_source_id
        state.drawn.count_problem = count_problem(state.drawn.counts.valid, totals)
    created = _in_windows(op, state, lambda: create_exports(hook, index, filters))
    state.exports = {kind: str(export["id"]) for kind, export in created.items()}
    op.log.info(
        "Comparing %d orders through export(s) %s (%s); reading back %d sampled orders",
        state.drawn.counts.valid,
        ", ".join(state.exports.values()),
        "orders created or updated since the imports began" if filters else "the whole project",
        len(sample.orders),
    )
    ids = list(state.exports.values())
    if op.deferrable:
        from airflow_provider_voucherify.triggers.export import ExportTrigger

        trigger = ExportTrigger(
            ids,
            op.voucherify_conn_id,
            poll_interval=op.export_poll_interval,
            end_time=time.time() + op.export_timeout,
            api_budget_share=DEFAULT_API_BUDGET_SHARE,
        )
        defer_to(op, context, trigger, RESUME_METHOD, {"state": state.to_dict()})
    waited = wait_for_exports(
        hook, ids, poll_interval=op.export_poll_interval, timeout=op.export_timeout, log=op.log
    )
    return sample, waited


def _compare(
    op: ReconcileOrdersOperator,
    hook: VoucherifyHook,
    state: ReconcileState,
    index: SourceIndex,
    sample: OrderSample,
    waited: ExportsWaited | None,
) -> ExportComparison:
    """Act on the wait's end, compare every order, write the missing file, read the sample back."""
    assert state.exports is not None
    if waited is None or waited.status != "success":
        status, message = (waited.status, waited.message) if waited else ("error", "no event")
        if status == "failed":
            raise ExportFailedError(f"{message}: nothing was compared")
        if status == "error":
            raise AirflowFailException(f"Waiting for the export failed, not retried: {message}")
        raise VoucherifyError(f"Export {status}: {message}")
    exports = {}
    for kind, export_id in state.exports.items():
        known = waited.exports.get(export_id)
        exports[kind] = known or _in_windows(op, state, functools.partial(hook.get_export, export_id))
    location = rejects_location(resolved(op.missing_orders_path))
    with ExitStack() as stack:
        missing = stack.enter_context(JsonLinesFile(location)) if location is not None else None
        comparison = _in_windows(
            op,
            state,
            lambda: compare_exports(
                hook, index, exports, missing.write_line if missing is not None else None
            ),
        )
    if location is not None and comparison.missing + comparison.differing:
        op.log.info(
            "The source lines of the %d missing and %d differing orders are in %s",
            comparison.missing,
            comparison.differing,
            location,
        )
    customers = CachedReader(found_or_none(hook.get_customer)) if op.compare_customers else None
    _in_windows(
        op, state, lambda: check_sample(sample, found_or_none(hook.get_order), customers, state.result)
    )
    return comparison
