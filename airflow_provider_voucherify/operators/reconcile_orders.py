"""ReconcileOrdersOperator: prove, field by field, what an import left in Voucherify."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context

try:  # Airflow >= 3.2 moved these to the Task SDK and deprecated the old names.
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        AirflowException,
        AirflowFailException,
    )

from airflow_provider_voucherify.exceptions import VoucherifyApiError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.models import MAX_ORDERS_PER_IMPORT
from airflow_provider_voucherify.operators._pipeline import ImportRules
from airflow_provider_voucherify.operators._preflight import Preflight
from airflow_provider_voucherify.operators._source import OrdersArg, OrdersInMemory, OrderSource
from airflow_provider_voucherify.operators._validation import JsonLinesFile, rejects_location
from airflow_provider_voucherify.reconcile.check import SampleResult, check_sample
from airflow_provider_voucherify.reconcile.report import (
    DEFAULT_CONFIDENCE,
    ActionTotals,
    count_problem,
    detectable_rate,
    flatten_ids,
    render_table,
    sample_size_for,
)
from airflow_provider_voucherify.reconcile.sample import SourceCounts, draw_sample

if TYPE_CHECKING:
    from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator

MAX_TABLE_ROWS = 50


class ReconcileOrdersOperator(BaseOperator):
    """Prove what an import left in Voucherify: counts, then a random sample compared field by field.

    1. **Counts.** Each async action is read once (``GET /v1/async-actions/{id}``); the orders the
       import sent must equal ``done_count`` + ``failed_count`` summed over the actions. "Sent" is
       found by reading ``orders`` through the import's own pipeline (the same validation, the
       project's metadata schemas when ``preflight``, the same batch cuts, which decide whether a
       repeated ``source_id`` was refused), so pass the import's settings of the same names.
       Records the import rejected are reported, not counted as missing. Orders Voucherify
       refused go to ``failed_orders_path``.
    2. **Sample.** A uniform random sample of ``sample_size`` imported orders (drawn while
       streaming: memory holds the sample, not the input) is read back, one
       ``GET /v1/orders/{source_id}`` each, and compared on every field that was sent (see
       :mod:`airflow_provider_voucherify.reconcile.compare`). Checking customers and referrers
       costs one ``GET /v1/customers/{id}`` per distinct one in the sample; ``compare_customers=False``
       checks them by link only. A missing order or a difference is a mismatch; more than
       ``max_mismatches`` fails the task with a table (``source_id``, field, sent, stored) in which
       personal data (names, emails, phones, addresses, customer metadata) shows as ``differs``.
    3. **What it proves.** With ``n`` orders compared and none wrong, a corruption rate above
       ``1 - (1 - confidence)^(1/n)`` would have been caught with that confidence (n = 100 at 95 %:
       3 %); ``detect_corruption_rate`` asks for that rate instead of a sample size.

    API calls: one per async action + at most ``sample_size`` order reads (+ customer reads) + the
    preflight's schema reads.
    Orders are the staged input, so nothing here needs the warehouse.

    Returns (XCom) ``{"sent", "done", "failed", "invalid", "sampled", "matched", "mismatches",
    "missing", "detectable_corruption_rate", "confidence", "order_reads", "customer_reads"}``.

    Build it with :meth:`of_import` to take the import's input, actions and settings from the
    import task itself.

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
    :param compare_customers: read each sampled order's customer and referrer to compare their
        ``source_id`` and the profile fields sent
    :param seed: makes the sample repeatable (e.g. ``"{{ run_id }}"``). Templated.
    :param require_source_id: the import's setting of the same name
    :param created_at_metadata_key: the import's setting of the same name
    :param batch_size: the import's setting of the same name (where its batches were cut)
    :param preflight: the import's setting of the same name: check orders against the project's
        metadata schemas as the import did (one ``GET /v1/metadata-schemas/order`` call, more only
        for the resources the orders' metadata uses)
    :raises AirflowFailException: when counts differ or mismatches exceed ``max_mismatches``
    :raises AirflowException: when an action has not finished yet (a retry can succeed)
    """

    template_fields: Sequence[str] = (
        "orders",
        "async_action_ids",
        "sample_size",
        "failed_orders_path",
        "seed",
        "voucherify_conn_id",
    )
    template_fields_renderers = {"orders": "json", "async_action_ids": "json"}
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
        compare_customers: bool = True,
        seed: int | str | None = None,
        require_source_id: bool = True,
        created_at_metadata_key: str | None = "original_created_at",
        batch_size: int = MAX_ORDERS_PER_IMPORT,
        preflight: bool = True,
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

    @classmethod
    def of_import(cls, import_orders: ImportOrdersOperator, **kwargs: Any) -> ReconcileOrdersOperator:
        """A reconciliation of what ``import_orders`` sent, with the settings that decided it.

        Takes the import's ``orders``, its output (the async action ids, an XCom reference, which
        also sets the dependency), its connection and the settings that decide which records it
        sent and where it cut batches (``batch_size``, ``require_source_id``,
        ``created_at_metadata_key``, ``preflight``), so the two can never disagree.

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
        }
        return cls(**{**taken, **kwargs})

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        if isinstance(self.orders, (list, tuple)):
            self.orders = OrdersInMemory(self.orders)

    def execute(self, context: Context) -> dict[str, Any]:
        size = _sample_size(self.sample_size)
        hook = VoucherifyHook(self.voucherify_conn_id)
        try:
            totals, refused = self._read_actions(hook)
            rules = ImportRules(
                batch_size=self.batch_size,
                require_source_id=self.require_source_id,
                created_at_metadata_key=self.created_at_metadata_key,
            )
            preflight = Preflight(hook if self.preflight else None, self.created_at_metadata_key, self.log)
            with OrderSource(self.orders) as source:
                counts, sample = draw_sample(
                    source, size=size, seed=self.seed, refused=refused, rules=rules, check=preflight.check
                )
            self.log.info(
                "Reading back %d sampled orders: %d GET /v1/orders/{id} calls%s",
                len(sample.orders),
                len(sample.orders),
                ", and one GET /v1/customers/{id} per distinct customer" if self.compare_customers else "",
            )
            customers = _reader(hook.get_customer) if self.compare_customers else None
            result = check_sample(sample, _reader(hook.get_order), customers)
        finally:
            hook.close()
        summary = {
            "sent": counts.valid,
            "done": totals.done,
            "failed": totals.failed,
            "invalid": counts.invalid,
            "sampled": result.sampled,
            "matched": result.matched,
            "mismatches": result.mismatches,
            "missing": result.missing,
            "detectable_corruption_rate": round(
                detectable_rate(result.sampled, self.confidence, census=sample.is_census), 4
            ),
            "confidence": self.confidence,
            "order_reads": result.order_reads,
            "customer_reads": result.customer_reads,
        }
        self._conclude(counts, totals, result, summary)
        return summary

    def _read_actions(self, hook: VoucherifyHook) -> tuple[ActionTotals, set[str]]:
        """Read every action once; write what Voucherify refused; return the totals and refused ids."""
        ids = flatten_ids(self.async_action_ids)
        totals = ActionTotals.of([hook.get_async_action(action_id) for action_id in ids])
        if unfinished := totals.unfinished():
            names = ", ".join(f"{a.id} ({a.status.value})" for a in unfinished[:10])
            raise AirflowException(f"Reconcile once the import has finished; still running: {names}")
        refused: set[str] = set()
        location = rejects_location(self.failed_orders_path)
        with ExitStack() as stack:
            failed_file = stack.enter_context(JsonLinesFile(location)) if location is not None else None
            for action in totals.actions:
                for entry in action.import_result.failed if action.import_result else ():
                    if entry.source_id is not None:
                        refused.add(entry.source_id)
                    if failed_file is not None:
                        failed_file.write_entry(
                            {
                                "source_id": entry.source_id,
                                "reason": entry.reason,
                                "async_action_id": action.id,
                            }
                        )
        if location is not None:
            self.log.info("The %d orders Voucherify refused are listed in %s", totals.failed, location)
        if totals.failed_without_source_id:
            self.log.warning(
                "%d refused orders have no source_id: a sampled order among them reads as missing",
                totals.failed_without_source_id,
            )
        return totals, refused

    def _conclude(
        self, counts: SourceCounts, totals: ActionTotals, result: SampleResult, summary: Mapping[str, Any]
    ) -> None:
        if counts.invalid:
            examples = ", ".join(f"line {line} ({source_id})" for line, source_id in counts.invalid_examples)
            self.log.warning(
                "%d records the import rejects (never sent, not counted as missing): %s",
                counts.invalid,
                examples,
            )
        rate = summary["detectable_corruption_rate"] * 100
        self.log.info("%d of %d sampled orders match what was sent", result.matched, result.sampled)
        if not result.differences:
            self.log.info(
                "What this proves: a corruption rate above %.2f%% would have been caught with %.0f%% "
                "probability",
                rate,
                self.confidence * 100,
            )
        self.log.info("Reconciliation: %s", dict(summary))
        problems = []
        if problem := count_problem(counts.valid, totals):
            problems.append(f"Counts differ: {problem}")
        if result.differences:
            table = render_table(result.differences, limit=MAX_TABLE_ROWS)
            self.log.warning("Differences between what was sent and what Voucherify holds:\n%s", table)
            if result.mismatches > self.max_mismatches:
                problems.append(
                    f"{result.mismatches} of {result.sampled} sampled orders differ from what was sent "
                    f"(max_mismatches={self.max_mismatches}):\n{table}"
                )
        if problems:
            raise AirflowFailException("\n".join(problems))


def _sample_size(value: int | str) -> int:
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"sample_size must be a whole number, got {value!r}") from None
    if size < 0:
        raise ValueError(f"sample_size must not be negative, got {size}")
    return size


def _reader(get: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any] | None]:
    """A hook read that answers ``None`` for 404 (not found) instead of raising."""

    def read(key: str) -> dict[str, Any] | None:
        try:
            return get(key)
        except VoucherifyApiError as exc:
            if exc.status_code == 404:
                return None
            raise

    return read
