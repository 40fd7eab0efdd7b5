"""ReconcileOrdersOperator: prove, field by field, what an import left in Voucherify."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_voucherify._compat import conf

try:  # Airflow >= 3.2 moved these to the Task SDK and deprecated the old names.
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        AirflowException,
        AirflowFailException,
        AirflowSkipException,
    )

# What the task raises.
__all__ = ["AirflowException", "AirflowFailException", "AirflowSkipException", "ReconcileOrdersOperator"]

from airflow_provider_voucherify.airflow_errors import raises_airflow_errors
from airflow_provider_voucherify.error_policy import reopens_at
from airflow_provider_voucherify.exceptions import VoucherifyRateLimitError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.importing.pipeline import ImportRules
from airflow_provider_voucherify.importing.preflight import Preflight
from airflow_provider_voucherify.importing.source import OrdersArg, OrdersInMemory, OrderSource
from airflow_provider_voucherify.models import MAX_ORDERS_PER_IMPORT, AsyncAction
from airflow_provider_voucherify.operators._options import DEFAULT_HISTORICAL_WINDOW, task_cutoff
from airflow_provider_voucherify.operators._storage import resolved
from airflow_provider_voucherify.operators._task import defer_until, fail_fast, resumed_state
from airflow_provider_voucherify.rate_limits import defer_or_wait, sleep_until, when
from airflow_provider_voucherify.reconcile.actions import read_actions
from airflow_provider_voucherify.reconcile.check import CachedReader, check_sample, found_or_none
from airflow_provider_voucherify.reconcile.outcome import ReconciliationError, summarize
from airflow_provider_voucherify.reconcile.report import (
    DEFAULT_CONFIDENCE,
    count_problem,
    sample_size_for,
    sample_size_of,
)
from airflow_provider_voucherify.reconcile.sample import OrderSample, draw_sample
from airflow_provider_voucherify.reconcile.state import Drawn, ReconcileState
from airflow_provider_voucherify.waiting.tracker import action_ids

if TYPE_CHECKING:
    from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator


@raises_airflow_errors("execute", "resume_execution")
class ReconcileOrdersOperator(BaseOperator):
    """Prove what an import left in Voucherify: counts, then a random sample compared field by field.

    1. **Counts.** Each async action is read once (``GET /v1/async-actions/{id}``: the list endpoint
       carries no result, so it cannot replace these reads); the orders the
       import sent must equal ``done_count`` + ``failed_count`` summed over the actions. "Sent" is
       found by reading ``orders`` through the import's own pipeline (the same validation, the
       project's metadata schemas when ``preflight``, the same batch cuts, which decide whether a
       repeated ``source_id`` was refused), so pass the import's settings of the same names.
       Records the import rejected are reported, not counted as missing. Orders Voucherify
       refused go to ``failed_orders_path``.
    2. **Sample.** A uniform random sample of ``sample_size`` imported orders (drawn while
       streaming: memory holds the sample, not the input) is read back, one
       ``GET /v1/orders/{source_id}`` each, and compared on every field that was sent (see
       :mod:`airflow_provider_voucherify.reconcile.compare`). An order read shows its customer
       and referrer by Voucherify id only, so by default (``compare_customers=False``) they are
       checked by link, at no cost: sampled orders sent with the same customer (or referrer)
       ``source_id`` must point at the same stored customer, and different ones at different
       customers (a mix-up is a mismatch on the field ``customer`` / ``referrer``).
       ``compare_customers=True`` also compares each one's ``source_id`` and the profile fields
       sent, at one ``GET /v1/customers/{id}`` per distinct customer or referrer in the sample (up
       to two per sampled order). A missing order or a difference is a mismatch; more than
       ``max_mismatches`` fails the task with a table (``source_id``, field, sent, stored) in which
       personal data (names, emails, phones, addresses, customer metadata) shows as ``differs``.
    3. **What it proves.** With ``n`` orders compared and none wrong, a corruption rate above
       ``1 - (1 - confidence)^(1/n)`` would have been caught with that confidence (n = 100 at 95 %:
       3 %); ``detect_corruption_rate`` asks for that rate instead of a sample size.

    API calls: one per async action (50 for 100,000 orders in batches of 2,000) + at most
    ``sample_size`` order reads + the preflight's schema read (one, more only when items carry
    metadata) + with ``compare_customers=True`` the customer reads. Orders are the staged input,
    so nothing here needs the warehouse.

    **Rate limits.** Reads are ordinary API calls (a Sandbox project allows 100 an hour). A 429
    the hook does not sleep through (``max_rate_limit_wait``) pauses the reconciliation until the
    window reopens: with ``deferrable=True`` the task defers (Airflow's ``DateTimeTrigger``; the
    worker is free meanwhile) carrying only the seed, the counts, the sampled orders' source ids,
    the orders compared so far and the difference rows, then reads the input again to find the
    sampled orders and goes on with the rest; without it, the worker sleeps, logging when it
    continues and how many reads remain. Either way each sampled order is read once. The billing
    cycle's quota (``api_calls_cycle``) fails the task at once. Reading the actions and drawing
    the sample is done again whole after a deferral, so when a rate limit interrupts reading the
    actions and they would not fit in one window (more than 98 actions on a Sandbox), the task
    waits in the worker instead of deferring, keeping what it read.

    Returns (XCom) ``{"sent", "done", "failed", "invalid", "sampled", "matched", "mismatches",
    "missing", "detectable_corruption_rate", "confidence", "order_reads", "customer_reads", "seed",
    "rate_limit_waits"}``.

    Build it with :meth:`of_import` to take the import's input, actions and settings from the
    import task itself, and what the import did (its XCom ``import_summary``): after a dry run
    (``dry_run=True``), which sent nothing, the task is skipped at once, reading nothing.

    :param orders: the same list or JSON Lines path / URI that was imported. Templated.
    :param async_action_ids: the import's XCom: one id or a list, possibly nested or empty. Templated.
    :param voucherify_conn_id: the Voucherify connection
    :param sample_size: orders read back and compared (0: counts only). Templated (int or digits).
    :param max_mismatches: mismatched sampled orders tolerated before the task fails
    :param failed_orders_path: where to write the orders Voucherify refused, JSON Lines of
        ``{"source_id", "reason", "async_action_id"}`` (local path or URI). Templated.
    :param detect_corruption_rate: instead of ``sample_size``, the corruption rate (0..1) a clean
        sample must rule out; the sample size follows from it and ``confidence``
    :param confidence: the probability with which the detection figure holds (0..1)
    :param compare_customers: read each sampled order's customer and referrer
        (``GET /v1/customers/{id}``, once per distinct one) to compare their ``source_id`` and the
        profile fields sent; ``False`` (the default) checks them by link, with no extra call
    :param seed: makes the sample repeatable (e.g. ``"{{ run_id }}"``); ``None`` picks one, which
        the summary shows. Templated.
    :param deferrable: wait for a rate limit's window in the triggerer instead of the worker
    :param require_source_id: the import's setting of the same name
    :param created_at_metadata_key: the import's setting of the same name
    :param batch_size: the import's setting of the same name (where its batches were cut)
    :param preflight: the import's setting of the same name: check orders against the project's
        metadata schemas as the import did (one ``GET /v1/metadata-schemas/order`` call, more only
        for the resources the orders' metadata uses)
    :param historical_before: the import's setting of the same name (an order created at or after
        it was refused); :meth:`of_import` passes the very moment the import used (its XCom
        ``historical_before``). Templated
    :param import_summary: what the import did, its XCom ``import_summary`` (a dict, or its JSON
        text); :meth:`of_import` passes it. When it says ``dry_run``, nothing was sent: the task is
        skipped (``AirflowSkipException``) before any API call. Templated
    :raises AirflowFailException: when counts differ or mismatches exceed ``max_mismatches``
    :raises AirflowException: when an action has not finished yet (a retry can succeed)
    :raises AirflowSkipException: when ``import_summary`` says the import was a dry run
    """

    template_fields: Sequence[str] = (
        "orders",
        "async_action_ids",
        "sample_size",
        "failed_orders_path",
        "seed",
        "voucherify_conn_id",
        "historical_before",
        "import_summary",
    )
    template_fields_renderers = {"orders": "json", "async_action_ids": "json", "import_summary": "json"}
    ui_color = "#7fc8a9"

    def __init__(
        self,
        *,
        orders: OrdersArg,
        async_action_ids: str | Sequence[Any],
        voucherify_conn_id: str = VoucherifyHook.default_conn_name,
        sample_size: int | str = 100,
        max_mismatches: int = 0,
        failed_orders_path: str | os.PathLike[str] | None = None,
        detect_corruption_rate: float | None = None,
        confidence: float = DEFAULT_CONFIDENCE,
        compare_customers: bool = False,
        seed: int | str | None = None,
        require_source_id: bool = True,
        created_at_metadata_key: str | None = "original_created_at",
        batch_size: int = MAX_ORDERS_PER_IMPORT,
        preflight: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        historical_before: datetime | str | timedelta | None = DEFAULT_HISTORICAL_WINDOW,
        import_summary: dict[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if detect_corruption_rate is not None:
            sample_size = sample_size_for(detect_corruption_rate, confidence)
        if max_mismatches < 0:
            raise ValueError(f"max_mismatches must not be negative, got {max_mismatches}")
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
        self.orders = orders
        self.async_action_ids = async_action_ids
        self.voucherify_conn_id = voucherify_conn_id
        self.sample_size = sample_size
        self.max_mismatches = max_mismatches
        self.failed_orders_path = failed_orders_path
        self.detect_corruption_rate = detect_corruption_rate
        self.confidence = confidence
        self.compare_customers = compare_customers
        self.seed = seed
        self.require_source_id = require_source_id
        self.created_at_metadata_key = created_at_metadata_key
        self.batch_size = batch_size
        self.preflight = preflight
        self.deferrable = deferrable
        self.historical_before = historical_before
        self.import_summary = import_summary
        self._cutoff: datetime | None = None

    @classmethod
    def of_import(cls, import_orders: ImportOrdersOperator, **kwargs: Any) -> ReconcileOrdersOperator:
        """A reconciliation of what ``import_orders`` sent, with the settings that decided it.

        Takes the import's ``orders``, its output (the async action ids, an XCom reference, which
        also sets the dependency), its connection and the settings that decide which records it
        sent and where it cut batches (``batch_size``, ``require_source_id``,
        ``created_at_metadata_key``, ``preflight``, and the ``historical_before`` moment it used),
        so the two can never disagree, its ``deferrable``, and what it did (its XCom
        ``import_summary``: a dry run is skipped, not reconciled).

        :param import_orders: the import task in the same DAG
        :param kwargs: this operator's own arguments (``task_id`` at least); any of the above given
            here wins
        :returns: the operator, downstream of ``import_orders``
        """
        taken = {
            "orders": import_orders.orders,
            "async_action_ids": import_orders.output,
            "voucherify_conn_id": import_orders.voucherify_conn_id,
            "batch_size": import_orders.batch_size,
            "require_source_id": import_orders.require_source_id,
            "created_at_metadata_key": import_orders.created_at_metadata_key,
            "preflight": import_orders.preflight,
            "deferrable": import_orders.deferrable,
            # The moment the import used (a default counts back from its own start, not this one's).
            "historical_before": (
                f"{{{{ ti.xcom_pull(task_ids={import_orders.task_id!r}, key='historical_before') }}}}"
            ),
            "import_summary": (
                f"{{{{ ti.xcom_pull(task_ids={import_orders.task_id!r}, key='import_summary') | tojson }}}}"
            ),
        }
        return cls(**{**taken, **kwargs})

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        if isinstance(self.orders, (list, tuple)):
            self.orders = OrdersInMemory(self.orders)

    def execute(self, context: Context) -> dict[str, Any]:
        self._skip_a_dry_run()
        self._cutoff = task_cutoff(self.historical_before, context)
        return self._run(context, ReconcileState.start(self.seed))

    def _skip_a_dry_run(self) -> None:
        """A dry run sent nothing, so there is nothing to read back: skip, spending no API call."""
        summary = self.import_summary
        if isinstance(summary, str):
            summary = json.loads(summary) if summary.strip() else None
        if isinstance(summary, dict) and summary.get("dry_run"):
            raise AirflowSkipException(
                "The import was a dry run: it sent nothing, so there is nothing to reconcile (no API "
                f"call made). A real run would send {summary.get('valid', '?')} valid records in "
                f"{summary.get('batches', '?')} batches; {summary.get('invalid', '?')} records were invalid"
            )

    def resume_reconciliation(
        self, context: Context, event: Any = None, state: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Continue after a rate-limit deferral, with the orders compared so far."""
        self._cutoff = task_cutoff(self.historical_before, context)
        resumed = ReconcileState.from_dict(resumed_state(context, "state", state))
        self.log.info(
            "Continuing after a rate-limit wait: %d of %s sampled orders compared so far",
            len(resumed.result.compared),
            len(resumed.drawn.sample_ids) if resumed.drawn else "the",
        )
        return self._run(context, resumed)

    def _run(self, context: Context, state: ReconcileState) -> dict[str, Any]:
        size = sample_size_of(self.sample_size)
        ids = action_ids(self.async_action_ids)
        hook = VoucherifyHook(self.voucherify_conn_id)
        # Kept across waits in the worker (never across a deferral: they hold personal data).
        actions: dict[str, AsyncAction] = {}
        sample: list[OrderSample] = []
        customers = CachedReader(found_or_none(hook.get_customer)) if self.compare_customers else None
        try:
            with fail_fast("Reconciliation"):
                while True:
                    try:
                        self._advance(hook, state, ids, size, actions, sample, customers)
                        break
                    except VoucherifyRateLimitError as exc:
                        retry_at = reopens_at(exc)  # re-raises the billing cycle's quota
                        seen = hook.rate_limit
                        limit = seen.limit if seen and seen.limit_type == exc.limit_type else None
                        # A deferral reads the actions again: defer only if they fit in one window.
                        redo = len(ids) + 2 if state.drawn is None and actions else 0
                        defer = self.deferrable and (not redo or (limit is not None and limit >= redo))
                        unread = len(ids) - len(actions)
                        self._wait_for_window(context, state, retry_at, exc, unread, size, defer)
        finally:
            hook.close()
        try:
            return summarize(
                state, confidence=self.confidence, max_mismatches=self.max_mismatches, log=self.log
            )
        except ReconciliationError as exc:
            raise AirflowFailException(str(exc)) from exc

    def _advance(
        self,
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
            batch_size=self.batch_size,
            require_source_id=self.require_source_id,
            created_at_metadata_key=self.created_at_metadata_key,
            historical_before=self._cutoff,
        )
        if state.drawn is None:
            totals, refused = read_actions(
                hook, ids, read=actions, failed_orders_path=resolved(self.failed_orders_path), log=self.log
            )
            if unfinished := totals.unfinished():
                names = ", ".join(f"{a.id} ({a.status.value})" for a in unfinished[:10])
                raise AirflowException(f"Reconcile once the import has finished; still running: {names}")
            preflight = Preflight(hook if self.preflight else None, self.created_at_metadata_key, self.log)
            with OrderSource(resolved(self.orders)) as source:
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
            self.log.info(
                "Reading back %d sampled orders: %d GET /v1/orders/{id} calls%s",
                len(drawn.orders),
                len(drawn.orders),
                ", and one GET /v1/customers/{id} per distinct customer or referrer"
                if self.compare_customers
                else " (customers checked by link only: compare_customers=False)",
            )
        elif not sample:
            # A continuing try: find the sampled orders again, as the import sent them.
            pending = set(state.drawn.sample_ids) - set(state.result.compared)
            preflight = Preflight(hook if self.preflight else None, self.created_at_metadata_key, self.log)
            with OrderSource(resolved(self.orders)) as source:
                _, found = draw_sample(
                    source, size=len(pending), rules=rules, check=preflight.check, only=pending
                )
            sample[:] = [found]
        check_sample(sample[0], found_or_none(hook.get_order), customers, state.result)

    def _wait_for_window(
        self,
        context: Context,
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
        if self.deferrable and not how:
            how = "; waiting in the worker: a deferral would read every action again, and they do not fit"
        self.log.info(
            "%s limit: reconciliation continues at %s (in %.0f s); %d order and action reads remain%s",
            exc.limit_type or "rate",
            when(retry_at),
            max(retry_at - time.time(), 0.0),
            state.reads_left(unread, size),
            how,
        )
        if defer:
            defer_until(self, context, retry_at, "resume_reconciliation", {"state": state.to_dict()})
        sleep_until(retry_at)
        self.log.info("Window reopened: reconciliation continues")
