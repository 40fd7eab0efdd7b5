"""ImportOrdersOperator: stream, validate, batch and submit historical orders to Voucherify."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, NoReturn

from airflow.sdk import BaseOperator, Context

from airflow_provider_voucherify._compat import conf
from airflow_provider_voucherify.airflow_errors import raises_airflow_errors
from airflow_provider_voucherify.formats import api_datetime
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.importing.body_limit import BodyLimit
from airflow_provider_voucherify.importing.continuation import (
    Checkpoints,
    Continuation,
    SourceIdentity,
    restart,
)
from airflow_provider_voucherify.importing.dry_run import dry_run_of
from airflow_provider_voucherify.importing.ledger import BatchLedger
from airflow_provider_voucherify.importing.options import check_options
from airflow_provider_voucherify.importing.pipeline import ImportRules
from airflow_provider_voucherify.importing.plan_view import PlanView
from airflow_provider_voucherify.importing.preflight import Preflight
from airflow_provider_voucherify.importing.rejects import RefusedTally, RejectsFile, rejects_location
from airflow_provider_voucherify.importing.sending import SendLoop, import_summary
from airflow_provider_voucherify.importing.source import OrdersArg, OrdersInMemory, OrderSource
from airflow_provider_voucherify.importing.validation import OnInvalid, refuse_nothing_valid
from airflow_provider_voucherify.models import MAX_ORDERS_PER_IMPORT
from airflow_provider_voucherify.operators._completion import (
    conclude,
    lineage,
    project_of,
    wait_for_imports,
)
from airflow_provider_voucherify.operators._task import (
    DEFAULT_HISTORICAL_WINDOW,
    as_flag,
    defer_until,
    fail_fast,
    one_import_at_a_time,
    resolved,
    resumed_state,
    task_cutoff,
    worker_waits_why,
)
from airflow_provider_voucherify.waiting.pacing import DEFAULT_API_BUDGET_SHARE, check_share
from airflow_provider_voucherify.waiting.verdict import Verdict

DEFAULT_TIMEOUT = timedelta(days=7)


@raises_airflow_errors("execute", "resume_execution")
class ImportOrdersOperator(BaseOperator):
    """Import historical orders into Voucherify through ``POST /v1/orders/import``.

    Records are read as a stream, validated one by one, serialized once and sent in batches, one
    request after another (Voucherify runs one import per project at a time anyway). Memory stays
    flat whatever the size of the input. Each accepted batch logs a progress line.

    Retries and clears are idempotent: on Airflow 3.3+ each accepted batch is recorded (number,
    SHA-256 of its body, async action id, base URL and Application ID) in the task state store
    before the next one is sent. A later try (retry or clear) first reads the recorded actions'
    states (one ``GET /v1/async-actions`` per 100 of them, a GET for each the list missed) and
    skips a batch only if its content is unchanged, the same project accepted it and its import
    has not ended ``FAILED``; every other batch is sent again, whoever saw the failure. Before 3.3
    a retry sends everything again and relies on ``source_id`` upserts, which is why
    ``require_source_id`` defaults to ``True``. ``resume=False`` sends every batch again.

    Errors a retry cannot cure (401/403, a 400 on a batch, invalid input past ``max_invalid``, a
    file that is not JSON Lines) raise ``AirflowFailException`` with the original as ``__cause__``;
    transient ones (429, 5xx, lost connections, an import that ended ``FAILED``) stay retryable.

    Two orders with the same ``source_id`` are never sent in one request: an order repeating the
    ``source_id`` of one in the batch being filled is an invalid record naming the earlier line;
    repeated in a later batch, it is sent after the earlier one and updates it (upsert).

    Invalid records never reach the API. With ``on_invalid="fail"`` the first one fails the task;
    with ``"skip"`` they are counted and listed in ``rejects_path``, and the task fails as soon as
    more than ``max_invalid`` were skipped: batches before that point are sent (and recorded for a
    retry), none after. Errors and the rejects file name the line, ``source_id``, field path and
    reason, never a record's content, which may be personal data.

    One import at a time: Voucherify runs one order import per project at a time, so unless told
    otherwise the task runs one instance at a time across all runs of its DAG
    (``max_active_tis_per_dag=1``, enforced by the scheduler, no pool to create): a run triggered
    by hand for a month whose scheduled run is importing waits for it (on Airflow 3.1 and 3.2.0,
    which do not count a deferred task, the import then waits for rate-limit windows in the worker).
    Widen it with ``max_active_tis_per_dag=N`` (or ``None``); a one-slot pool shares the limit.

    XComs: ``return_value`` is the list of async action ids (one per batch); ``import_summary`` is
    ``{"read", "valid", "invalid", "sent", "skipped_on_retry", "batches"}``: records read, valid
    and invalid; orders posted by this try, orders in batches an earlier try had already sent; and
    the number of batches.

    To schedule downstream DAGs on a finished import, give the task an Asset outlet and wait::

        orders_asset = Asset("voucherify://api.voucherify.io/<app_id>/orders")  # your Application ID
        ImportOrdersOperator(task_id="import_orders", orders="s3://dwh/orders.jsonl.gz",
                             wait_for_completion=True, outlets=[orders_asset])
        # elsewhere: DAG(..., schedule=[orders_asset])

    Without ``wait_for_completion`` the asset event means "submitted", not "imported". With the
    project's Application ID in the URI, OpenLineage names the asset as it names the operator's
    output (:mod:`~airflow_provider_voucherify.assets`).

    :param orders: a list of dicts or ``Order``\\ s, or a path or URI (``str`` or ``ObjectStoragePath``:
        ``file://``, ``s3://``, ...) to JSON Lines, plain or compressed with gzip, bzip2 or xz
        (told by the first bytes). Templated.
    :param voucherify_conn_id: the Voucherify connection id. Templated (e.g.
        ``"{{ params.voucherify_conn_id }}"``); a deferred wait uses the rendered id.
    :param batch_size: orders per request, 1 to 2000; a batch also stays under 10 MiB of JSON
    :param on_invalid: ``"fail"`` on the first invalid record, or ``"skip"`` invalid records
    :param max_invalid: with ``"skip"``, how many invalid records are tolerated
    :param rejects_path: with ``"skip"``, where to write the invalid records' line numbers,
        ``source_id`` and errors as JSON Lines (local path or URI). Templated.
    :param require_source_id: treat an order without ``source_id`` as invalid; only ``source_id``
        makes a repeated import an update instead of a duplicate
    :param created_at_metadata_key: metadata key that receives an order's ``created_at`` (ISO
        8601), where the API asks for historical dates; ``None`` drops ``created_at``
    :param wait_for_completion: wait until Voucherify finished every import, with the same verdict
        as ``AsyncActionSensor``
    :param deferrable: wait in the triggerer instead of the worker
    :param poll_interval: the shortest time between two checks while waiting, in seconds
    :param max_failed_orders: how many orders Voucherify may reject before the wait fails
    :param timeout: how long to wait (seconds or a ``timedelta``) before failing
    :param api_budget_share: the largest share of the plan's ordinary API calls (as the
        ``X-Rate-Limit-*`` headers report them) the wait may spend, in (0, 1]
    :param resume: skip the batches an earlier try of this task instance had sent and that are
        still good (see above); ``False`` sends everything again. Templated (``"false"`` works).
    :param preflight: before the first bulk call, read the project's metadata schemas
        (``GET /v1/metadata-schemas/order``, and ``order_item`` / ``customer`` / ``product`` once
        orders carry metadata for them) and treat an order they would refuse as an invalid record;
        fail at once, sending nothing, when the schema allows only defined metadata and lacks
        ``created_at_metadata_key``
    :param dry_run: read and validate everything (preflight included), write the rejects file,
        send nothing, and report in XCom ``import_summary`` what a real run would send. Templated
        (``"{{ params.dry_run }}"`` renders to ``"True"``/``"False"``, read as a bool); kept as
        ``is_dry_run``, since ``BaseOperator`` has a ``dry_run`` method
    :param bulk_calls_per_hour: the plan's bulk-call limit, for the dry run's duration and the
        progress lines' ETA (else learned from the rate-limit headers, or the first refusal)
    :param historical_before: the import is for historical orders only (it creates no events and
        starts no order-based distributions): an order whose ``created_at`` is at or after this
        moment is an invalid record whose reason says to sync it through the orders API instead.
        A ``datetime``, a date-time text, a ``timedelta`` (that long before the task starts) or
        ``None`` (no check). Default: 24 hours before the task starts. Templated; the moment used
        is pushed as XCom ``historical_before`` (ISO 8601, or ``None``)
    """

    template_fields: Sequence[str] = (
        "orders",
        "rejects_path",
        "resume",
        "voucherify_conn_id",
        "is_dry_run",
        "historical_before",
    )
    template_fields_renderers = {"orders": "json"}
    ui_color = "#ff8c61"

    def __init__(
        self,
        *,
        orders: OrdersArg,
        voucherify_conn_id: str = VoucherifyHook.default_conn_name,
        batch_size: int = MAX_ORDERS_PER_IMPORT,
        on_invalid: OnInvalid = "fail",
        max_invalid: int = 0,
        rejects_path: str | os.PathLike[str] | None = None,
        require_source_id: bool = True,
        created_at_metadata_key: str | None = "original_created_at",
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30,
        max_failed_orders: int = 0,
        timeout: timedelta | float = DEFAULT_TIMEOUT,
        api_budget_share: float = DEFAULT_API_BUDGET_SHARE,
        resume: bool | str = True,
        preflight: bool = True,
        dry_run: bool | str = False,
        bulk_calls_per_hour: int | None = None,
        historical_before: datetime | str | timedelta | None = DEFAULT_HISTORICAL_WINDOW,
        **kwargs: Any,
    ) -> None:
        super().__init__(**one_import_at_a_time(kwargs))
        self.timeout = check_options(
            batch_size=batch_size,
            on_invalid=on_invalid,
            max_invalid=max_invalid,
            rejects_path=rejects_path,
            created_at_metadata_key=created_at_metadata_key,
            poll_interval=poll_interval,
            max_failed_orders=max_failed_orders,
            timeout=timeout,
        )
        self.orders = orders
        self.voucherify_conn_id = voucherify_conn_id
        self.batch_size = batch_size
        self.on_invalid = on_invalid
        self.max_invalid = max_invalid
        self.rejects_path = rejects_path
        self.require_source_id = require_source_id
        self.created_at_metadata_key = created_at_metadata_key
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.max_failed_orders = max_failed_orders
        self.api_budget_share = check_share(api_budget_share)
        self.resume = resume
        # Orders Voucherify imported, known after a successful wait (for OpenLineage).
        self._imported_orders: int | None = None
        self.preflight = preflight
        self.is_dry_run = dry_run
        if bulk_calls_per_hour is not None and bulk_calls_per_hour < 1:
            raise ValueError(f"bulk_calls_per_hour must be at least 1, got {bulk_calls_per_hour}")
        self.bulk_calls_per_hour = bulk_calls_per_hour
        self.historical_before = historical_before
        self._cutoff: datetime | None = None

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        if isinstance(self.orders, (list, tuple)):
            self.orders = OrdersInMemory(self.orders)

    @cached_property
    def hook(self) -> VoucherifyHook:
        """The one hook of this task's run: sending, waiting and concluding share it."""
        return VoucherifyHook(self.voucherify_conn_id)

    def execute(self, context: Context) -> list[str]:
        return self._run(context, Continuation())

    def resume_import(
        self, context: Context, event: Any = None, continuation: dict[str, Any] | None = None
    ) -> list[str]:
        """Continue after a rate-limit deferral, at the batch the limit refused."""
        resumed = resumed_state(context, "continuation", continuation)
        return self._run(context, Continuation.from_dict(resumed))

    def _run(self, context: Context, state: Continuation) -> list[str]:
        with fail_fast("Import"):
            self._cutoff = task_cutoff(self.historical_before, context)
            cutoff = api_datetime(self._cutoff) if self._cutoff is not None else None
            context["ti"].xcom_push(key="historical_before", value=cutoff)
            if as_flag(self.is_dry_run, "dry_run"):
                return self._dry_run(context)
            action_ids = self._send(context, state)
            if action_ids and self.wait_for_completion:
                return self._wait(context, action_ids)
        return action_ids

    @property
    def rules(self) -> ImportRules:
        """What decides which records this import sends and where it cuts batches."""
        return ImportRules(
            batch_size=self.batch_size,
            on_invalid=self.on_invalid,
            max_invalid=self.max_invalid,
            require_source_id=self.require_source_id,
            created_at_metadata_key=self.created_at_metadata_key,
            historical_before=self._cutoff,
        )

    def _send(self, context: Context, state: Continuation) -> list[str]:
        hook = self.hook
        continuing, finished = state.position.batch > 0, False
        counts = state.position.counts()
        loop: SendLoop | None = None
        refused: RefusedTally | None = None
        preflight = Preflight(hook if self.preflight else None, self.created_at_metadata_key, self.log)
        try:
            resume = as_flag(self.resume, "resume")
            ledger = BatchLedger.from_context(
                context,
                self.log,
                project=project_of(hook),
                resume=resume,
                resend_safe=self.require_source_id,
            )
            ledger.prepare(hook, continuing_at=state.position.batch + 1 if continuing else None, log=self.log)
            with ExitStack() as stack:
                source = stack.enter_context(OrderSource(resolved(self.orders)))
                identity = SourceIdentity.of(source)
                if resume and not continuing and (found := restart(ledger.leading_run(), identity)):
                    state, continuing = found.continuation, True
                    counts = state.position.counts()
                    self.log.info("%s", found.describe())
                checkpoints = Checkpoints(source, state.position, state.identity, known=identity)
                location = rejects_location(resolved(self.rejects_path))
                from_line = state.position.line if continuing else None
                rejects_file = (
                    stack.enter_context(RejectsFile(location, from_line)) if location is not None else None
                )
                refused = RefusedTally(rejects_file, stop_after=self.max_invalid)
                body_limit = BodyLimit()
                loop = SendLoop(
                    hook=hook,
                    ledger=ledger,
                    state=state,
                    checkpoints=checkpoints,
                    counts=counts,
                    plan=PlanView.from_dict(state.plan),
                    batch_size=self.batch_size,
                    body_limit=body_limit,
                    defer=self._deferral(context) if self._defers() else None,
                    log=self.log,
                    bulk_calls_per_hour=self.bulk_calls_per_hour,
                )
                loop.run(
                    self.rules.batches(
                        checkpoints.records(),
                        counts=counts,
                        rejects=refused,
                        check=preflight.check,
                        body_limit=body_limit,
                    )
                )
                preflight.finish()
                finished = True
        finally:
            hook.close()
            action_ids = loop.action_ids if loop is not None else list(state.action_ids)
            summary = import_summary(counts, loop, state)
            self.log.info("Import summary%s: %s", "" if finished else " so far", summary)
            if refused is not None and (told := refused.describe()):
                self.log.warning("%s", told)
        context["ti"].xcom_push(key="import_summary", value=summary)
        refuse_nothing_valid(counts, refused.location if refused is not None else None)
        if not action_ids:
            self.log.warning("The orders hold no record: nothing was sent")
        return action_ids

    def _defers(self) -> bool:
        if held := self.deferrable and worker_waits_why(self.max_active_tis_per_dag):
            self.log.info("Import: %s", held)
        return self.deferrable and not held

    def _deferral(self, context: Context) -> Callable[[float, Continuation], NoReturn]:
        def defer(retry_at: float, state: Continuation) -> NoReturn:
            defer_until(self, context, retry_at, "resume_import", {"continuation": state.to_dict()})

        return defer

    def _dry_run(self, context: Context) -> list[str]:
        """Everything but the bulk calls: validate, write rejects, report what would be sent."""
        hook = self.hook
        preflight = Preflight(hook if self.preflight else None, self.created_at_metadata_key, self.log)
        try:
            found = dry_run_of(
                resolved(self.orders),
                self.rules,
                rejects_at=rejects_location(resolved(self.rejects_path)),
                check=preflight.check,
                bulk_limit=(self.bulk_calls_per_hour, lambda: hook.rate_limit),
            )
            preflight.finish()
        finally:
            hook.close()
        self.log.info("Dry run, nothing sent. A real run would send: %s", found.report)
        if told := found.refused.describe():
            self.log.warning("%s", told)
        context["ti"].xcom_push(key="import_summary", value=found.report)
        found.raise_for_stop()
        return []

    def _wait(self, context: Context, action_ids: list[str]) -> list[str]:
        return self._conclude(wait_for_imports(self, action_ids), action_ids, context)

    def execute_complete(
        self, context: Context, event: dict[str, Any], async_action_ids: list[str] | None = None
    ) -> list[str]:
        """Resume after the trigger's single event."""
        verdict = Verdict.from_event(event)
        ids = async_action_ids or (verdict.summary.actions if verdict.summary else [])
        with fail_fast("Import"):
            return self._conclude(verdict, ids, context)

    def _conclude(self, verdict: Verdict, action_ids: list[str], context: Context) -> list[str]:
        store = context.get("task_state_store")
        self._imported_orders = conclude(verdict, project_of(self.hook), store, self.log)
        return action_ids

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the source file in; the project's orders out, only once imported.

        Without ``wait_for_completion`` the task ends when the imports are merely submitted, so
        no output is claimed. After a successful wait the output carries an ``outputStatistics``
        facet with the number of orders Voucherify imported. ``None`` without OpenLineage.
        """
        imported = self._imported_orders if self.wait_for_completion else None
        return lineage(self.orders, project_of(self.hook) if imported is not None else None, imported)
