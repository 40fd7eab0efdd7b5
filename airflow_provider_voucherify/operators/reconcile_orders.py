"""ReconcileOrdersOperator: prove, field by field, what an import left in Voucherify."""

from __future__ import annotations

import json
import os
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
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.importing.source import OrdersArg, OrdersInMemory
from airflow_provider_voucherify.models import MAX_ORDERS_PER_IMPORT
from airflow_provider_voucherify.operators._reconcile_export import reconcile_by_export
from airflow_provider_voucherify.operators._reconcile_sample import reconcile_by_sample
from airflow_provider_voucherify.operators._task import DEFAULT_HISTORICAL_WINDOW, resumed_state, task_cutoff
from airflow_provider_voucherify.reconcile.report import (
    DEFAULT_CONFIDENCE,
    sample_size_for,
)
from airflow_provider_voucherify.reconcile.state import ReconcileState
from airflow_provider_voucherify.waiting.exports import ExportsWaited

if TYPE_CHECKING:
    from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator


METHODS = ("sample", "export")


@raises_airflow_errors("execute", "resume_execution")
class ReconcileOrdersOperator(BaseOperator):
    """Prove what an import left in Voucherify: counts, then a random sample (or, with
    ``method="export"``, every order) compared field by field.

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

    4. **Every order, by export** (``method="export"``). One orders export (``POST /v1/exports``,
       ``GET /v1/exports/{id}`` until ``DONE``, one CSV download) holds ``id``, ``source_id``,
       ``status``, ``amount``, ``discount_amount``, ``customer_id``, ``referrer_id``, ``created_at``,
       ``updated_at`` and every ``metadata.<key>`` the orders carry; one customers export maps
       ``customer_id`` to the customer's ``source_id`` (only when orders name a customer or
       referrer). Every order of ``orders`` the import sent is compared on those fields (amounts as
       integers, metadata by the type the order sent, dates as instants) in flat memory (an
       on-disk index); item fields only on the ``sample_size`` read-backs (0: no
       ``GET /v1/orders/{id}`` at all). With ``async_action_ids``, the export holds the orders
       created or updated since the imports began; with ``None`` (an audit of a file holding every
       order of the migrated period), the whole project, and no counts are checked. Missing and
       differing orders are named by ``source_id`` and field (never values), and their source lines
       written unchanged to ``missing_orders_path`` before the task fails. The wait for the exports
       is paced on the call budget, in the triggerer with ``deferrable=True``
       (:class:`~airflow_provider_voucherify.triggers.export.ExportTrigger`; the resumed try reads
       ``orders`` again); a rate limit met by the other calls is waited for in the worker. Calls:
       the action reads, the preflight's schema read, 2 creations, the polls (a few), 2 downloads
       (which the emulator does not count as API calls; whether the API does is not documented),
       the sample's reads.

    Returns (XCom) ``{"sent", "done", "failed", "invalid", "sampled", "matched", "mismatches",
    "missing", "detectable_corruption_rate", "confidence", "order_reads", "customer_reads", "seed",
    "rate_limit_waits"}``; with ``method="export"`` also ``checked`` (orders compared through the
    export), ``differing`` (orders held with other values), and ``missing`` counts the orders of
    ``orders`` Voucherify does not hold.

    Build it with :meth:`of_import` to take the import's input, actions and settings from the
    import task itself, and what the import did (its XCom ``import_summary``): after a dry run
    (``dry_run=True``), which sent nothing, the task is skipped at once, reading nothing.

    :param orders: the same list or JSON Lines path / URI that was imported. Templated.
    :param async_action_ids: the import's XCom: one id or a list, possibly nested or empty.
        ``None`` (``method="export"`` only): an audit of the whole project, without counts. Templated.
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
    :param method: ``"sample"`` (read back ``sample_size`` orders, ``GET /v1/orders/{id}`` each) or
        ``"export"`` (compare every order through the Exports API, see 4.)
    :param missing_orders_path: with ``method="export"``, where to write the source line of every
        order missing in Voucherify or differing there, unchanged: JSON Lines that
        ``ImportOrdersOperator`` can import as it is (local path or URI; ``None``: not written).
        Templated
    :raises AirflowFailException: when counts differ or mismatches exceed ``max_mismatches`` (with
        ``method="export"``: missing plus differing orders), or an export ends ``ERROR`` or any
        other status but ``DONE`` (naming it)
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
        "missing_orders_path",
    )
    template_fields_renderers = {"orders": "json", "async_action_ids": "json", "import_summary": "json"}
    ui_color = "#7fc8a9"
    # The export wait (method="export"): the shortest gap between polls, and when it gives up (s).
    export_poll_interval = 10.0
    export_timeout = 6 * 3600.0

    def __init__(
        self,
        *,
        orders: OrdersArg,
        async_action_ids: str | Sequence[Any] | None = None,
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
        method: str = "sample",
        missing_orders_path: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if async_action_ids is None and method != "export":
            raise ValueError('async_action_ids may be None only with method="export" (an audit)')
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
        self.method = method
        self.missing_orders_path = missing_orders_path
        self.cutoff: datetime | None = None

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
        self.cutoff = task_cutoff(self.historical_before, context)
        if self.method == "export":
            return reconcile_by_export(self, context, ReconcileState.start(self.seed))
        return reconcile_by_sample(self, context, ReconcileState.start(self.seed))

    def resume_export(
        self, context: Context, event: Any = None, state: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Continue once the export trigger fired: compare every order with the exports."""
        self.cutoff = task_cutoff(self.historical_before, context)
        resumed = ReconcileState.from_dict(resumed_state(context, "state", state))
        waited = ExportsWaited.from_event(event if isinstance(event, dict) else {"status": "error"})
        self.log.info("The exports ended: %s (%s)", waited.status, waited.message)
        return reconcile_by_export(self, context, resumed, waited)

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
        self.cutoff = task_cutoff(self.historical_before, context)
        resumed = ReconcileState.from_dict(resumed_state(context, "state", state))
        self.log.info(
            "Continuing after a rate-limit wait: %d of %s sampled orders compared so far",
            len(resumed.result.compared),
            len(resumed.drawn.sample_ids) if resumed.drawn else "the",
        )
        return reconcile_by_sample(self, context, resumed)
