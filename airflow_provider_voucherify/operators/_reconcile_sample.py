"""``ReconcileOrdersOperator(method="sample")``: the shell around the engine's sample reconciliation.

The counts and the read-back sample (the engine: :mod:`~airflow_provider_voucherify.reconcile`),
with the rate limits' windows waited for in the worker or, ``deferrable=True``, in the triggerer
(Airflow's ``DateTimeTrigger``), carrying the state a continuing try needs.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_voucherify.error_policy import reopens_at
from airflow_provider_voucherify.exceptions import VoucherifyRateLimitError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.importing.pipeline import ImportRules
from airflow_provider_voucherify.importing.preflight import Preflight
from airflow_provider_voucherify.importing.source import OrderSource
from airflow_provider_voucherify.models import AsyncAction
from airflow_provider_voucherify.operators._task import AirflowFailException, defer_until, fail_fast, resolved
from airflow_provider_voucherify.rate_limits import defer_or_wait, sleep_until, when
from airflow_provider_voucherify.reconcile.actions import read_actions
from airflow_provider_voucherify.reconcile.check import CachedReader, check_sample, found_or_none
from airflow_provider_voucherify.reconcile.outcome import ReconciliationError, summarize
from airflow_provider_voucherify.reconcile.report import count_problem, sample_size_of
from airflow_provider_voucherify.reconcile.sample import OrderSample, draw_sample
from airflow_provider_voucherify.reconcile.state import Drawn, ReconcileState
from airflow_provider_voucherify.waiting.tracker import action_ids

try:  # Airflow >= 3.2 moved it to the Task SDK and deprecated the old name.
    from airflow.sdk.exceptions import AirflowException
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import AirflowException  # type: ignore[no-redef,attr-defined,unused-ignore]

if TYPE_CHECKING:
    from airflow_provider_voucherify.operators.reconcile_orders import ReconcileOrdersOperator


def reconcile_by_sample(op: ReconcileOrdersOperator, context: Any, state: ReconcileState) -> dict[str, Any]:
    """Run, or continue after a rate-limit deferral, a sample reconciliation (the default method).

    :raises AirflowFailException: when the counts differ or mismatches exceed ``max_mismatches``
    """
    size = sample_size_of(op.sample_size)
    ids = action_ids(op.async_action_ids)
    hook = VoucherifyHook(op.voucherify_conn_id)
    # Kept across waits in the worker (never across a deferral: they hold personal data).
    actions: dict[str, AsyncAction] = {}
    sample: list[OrderSample] = []
    customers = CachedReader(found_or_none(hook.get_customer)) if op.compare_customers else None
    try:
        with fail_fast("Reconciliation"):
            while True:
                try:
                    _advance(op, hook, state, ids, size, actions, sample, customers)
                    break
                except VoucherifyRateLimitError as exc:
                    retry_at = reopens_at(exc)  # re-raises the billing cycle's quota
                    seen = hook.rate_limit
                    limit = seen.limit if seen and seen.limit_type == exc.limit_type else None
                    # A deferral reads the actions again: defer only if they fit in one window.
                    redo = len(ids) + 2 if state.drawn is None and actions else 0
                    defer = op.deferrable and (not redo or (limit is not None and limit >= redo))
                    unread = len(ids) - len(actions)
                    _wait_for_window(op, context, state, retry_at, exc, unread, size, defer)
    finally:
        hook.close()
    try:
        return summarize(state, confidence=op.confidence, max_mismatches=op.max_mismatches, log=op.log)
    except ReconciliationError as exc:
        raise AirflowFailException(str(exc)) from exc


def _advance(
    op: ReconcileOrdersOperator,
    hook: VoucherifyHook,
    state: ReconcileState,
    ids: list[str],
    size: int,
    actions: dict[str, AsyncAction],
    sample: list[OrderSample],
    customers: CachedReader | None,
) -> None:
    """Take ``state`` as far as the plan's limits allow (its two stages: see reconcile/state.py)."""
    rules = ImportRules(
        batch_size=op.batch_size,
        require_source_id=op.require_source_id,
        created_at_metadata_key=op.created_at_metadata_key,
        historical_before=op.cutoff,
    )
    if state.drawn is None:
        totals, refused = read_actions(
            hook, ids, read=actions, failed_orders_path=resolved(op.failed_orders_path), log=op.log
        )
        if unfinished := totals.unfinished():
            names = ", ".join(f"{a.id} ({a.status.value})" for a in unfinished[:10])
            raise AirflowException(f"Reconcile once the import has finished; still running: {names}")
        preflight = Preflight(hook if op.preflight else None, op.created_at_metadata_key, op.log)
        with OrderSource(resolved(op.orders)) as source:
            counts, drawn = draw_sample(
                source, size=size, seed=state.seed, refused=refused, rules=rules, check=preflight.check
            )
        sample[:] = [drawn]
        state.drawn = Drawn(
            done=totals.done,
            failed=totals.failed,
            failed_without_source_id=totals.failed_without_source_id,
            counts=counts,
            count_problem=count_problem(counts.valid, totals),
            sample_ids=[entry.source_id for entry in drawn.orders],
            census=drawn.is_census,
        )
        op.log.info(
            "Reading back %d sampled orders: %d GET /v1/orders/{id} calls%s",
            len(drawn.orders),
            len(drawn.orders),
            ", and one GET /v1/customers/{id} per distinct customer or referrer"
            if op.compare_customers
            else " (customers checked by link only: compare_customers=False)",
        )
    elif not sample:
        # A continuing try: find the sampled orders again, as the import sent them.
        pending = set(state.drawn.sample_ids) - set(state.result.compared)
        preflight = Preflight(hook if op.preflight else None, op.created_at_metadata_key, op.log)
        with OrderSource(resolved(op.orders)) as source:
            _, found = draw_sample(
                source, size=len(pending), rules=rules, check=preflight.check, only=pending
            )
        sample[:] = [found]
    check_sample(sample[0], found_or_none(hook.get_order), customers, state.result)


def _wait_for_window(
    op: ReconcileOrdersOperator,
    context: Any,
    state: ReconcileState,
    retry_at: float,
    exc: VoucherifyRateLimitError,
    unread: int,
    size: int,
    defer: bool,
) -> None:
    """Defer until ``retry_at`` (raises ``TaskDeferred``), or sleep in the worker until then.

    :param unread: actions not read yet (for the count of reads that remain)
    :param defer: defer (else sleep in the worker)
    """
    state.waits += 1
    # A window seconds away is waited for here: so short a deferral races Airflow's resumption.
    defer, how = defer_or_wait(defer, retry_at, time.time())
    if op.deferrable and not how:
        how = "; waiting in the worker: a deferral would read every action again, and they do not fit"
    op.log.info(
        "%s limit: reconciliation continues at %s (in %.0f s); %d order and action reads remain%s",
        exc.limit_type or "rate",
        when(retry_at),
        max(retry_at - time.time(), 0.0),
        state.reads_left(unread, size),
        how,
    )
    if defer:
        defer_until(op, context, retry_at, "resume_reconciliation", {"state": state.to_dict()})
    sleep_until(retry_at)
    op.log.info("Window reopened: reconciliation continues")
