"""Backfill historical orders from a SQL warehouse into Voucherify, one month per DAG run.

What it shows: a monthly data-interval schedule with ``catchup`` walks through history; each run
streams its month out of the warehouse into a JSON Lines .gz file, imports it, waits for
Voucherify in the triggerer, reconciles what Voucherify holds with the staged file, and checks
the warehouse's count. The last month's run hands over to the whole-migration audit
(``dags/voucherify_orders_audit.py``), which proves every order of the period reached Voucherify.

    extract_transform ──> import_orders ──> sent_anything ──> wait_for_import ──> reconcile ──> verify
    (SQL → orders.jsonl.gz)  (one at a time)  (dry run?)  (deferrable)  (sample)  (warehouse count)
        ──> hand_over_to_audit
            (last month only: updates the asset the audit DAG is scheduled on)

The queries and the extract are in ``airflow_provider_voucherify/example/warehouse.py``: the audit
runs the same ones over the whole period.

Params (defaults below; override per run from the trigger form or ``--conf``):
  ``warehouse_conn_id``   any connection whose hook is a common SQL ``DbApiHook`` (SQLite,
                          Postgres, Snowflake, BigQuery...); the queries below use plain SQL
  ``staging_base``        where the staged files go: an ``ObjectStoragePath`` base such as
                          ``s3://bucket/voucherify`` or ``file:///shared/dir``; every worker must
                          reach it (local files only work on a single machine). Each run stages
                          in a folder of its own, ``<month>/<run id>/``: a month triggered by hand
                          never overwrites the file its scheduled run is importing
  ``verify_sample_size``  how many imported orders ``reconcile`` reads back and compares
  ``voucherify_conn_id``  the Voucherify connection (default ``voucherify_default``)
  ``dry_run``             read, validate (metadata schemas included) and write the rejects, but
                          send nothing: import_orders' XCom ``import_summary`` tells how many
                          batches and bulk calls the month needs; the later steps are skipped
  ``customer_details``    ``full`` (default) sends each order's customer name, email, phone and
                          address, which overwrite the current profile; ``source_id_only`` links
                          the order to the customer by ``source_id`` and leaves the profile alone

Settings read when the file is parsed (environment variables; no network or database access):
  ``VOUCHERIFY_BACKFILL_START``  first month to import, ``YYYY-MM-DD`` (default 2024-01-01); a day
                                 inside a month means that whole month: 2024-01-15 starts the
                                 backfill on 2024-01-01, so the first run covers all of January
                                 (runs cover whole months; starting mid-month would leave no run
                                 for January 15-31, and orders upsert by ``source_id``)
  ``VOUCHERIFY_BACKFILL_END``    last day of history to import (default 2024-03-31)
  ``VOUCHERIFY_POLL_INTERVAL``   seconds between two checks of the import (default 60)
  ``VOUCHERIFY_BATCH_SIZE``      orders per import request (default and most 2000)
  and the defaults of the params above: ``VOUCHERIFY_WAREHOUSE_CONN_ID``,
  ``VOUCHERIFY_STAGING_BASE``, ``VOUCHERIFY_VERIFY_SAMPLE_SIZE``.
  ``VOUCHERIFY_IMPORT_POOL``     a pool for the import task (unset: no pool needed)
  ``VOUCHERIFY_DEMO_LEAVE_OUT_DAY``  DEMO ONLY (``make demo``): a day, ``YYYY-MM-DD``, that its
                                 month leaves out of its extract and its count, a gap the month's
                                 own checks cannot see and the audit must find; never set it otherwise

Voucherify runs one import per project at a time and counts bulk calls per hour, so months
extract and transform in parallel (``max_active_runs``) while their imports wait for each other:
``ImportOrdersOperator`` runs one instance at a time across this DAG's runs by default
(``max_active_tis_per_dag=1``, enforced by the scheduler, no set-up): the import of a month
triggered by hand while its scheduled run is importing waits for the other one's. To share that
limit with other DAGs importing into the same project, create a pool once,
``airflow pools set voucherify_imports 1 "Voucherify order imports"``, and set
``VOUCHERIFY_IMPORT_POOL=voucherify_imports``.
Orders the import's validation refuses land in ``rejects.jsonl`` beside the staged file, and
orders Voucherify refused in ``failed_orders.jsonl`` (both ready to fix and import again).
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, Asset, BaseHook, ObjectStoragePath, Param, task

try:
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowSkipException
    from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_voucherify.example.periods import BACKFILL_DONE, month_start, parts
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.operators.reconcile_orders import ReconcileOrdersOperator
from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor

log = logging.getLogger(__name__)


START = month_start(datetime.fromisoformat(os.environ.get("VOUCHERIFY_BACKFILL_START", "2024-01-01")))
END = datetime.fromisoformat(os.environ.get("VOUCHERIFY_BACKFILL_END", "2024-03-31"))
POLL_INTERVAL = float(os.environ.get("VOUCHERIFY_POLL_INTERVAL", "60"))
# A pool that does not exist would leave imports "scheduled" forever: use one only when named.
IMPORT_POOL = os.environ.get("VOUCHERIFY_IMPORT_POOL") or None
BATCH_SIZE = int(os.environ.get("VOUCHERIFY_BATCH_SIZE", "2000"))
MAX_INVALID = 100  # refused records tolerated per month before the import fails
# DEMO ONLY: a day (YYYY-MM-DD) its month's run leaves out of both its extract and its count, so
# the month's own checks pass and only the whole-migration audit can find the gap (make demo and
# the end-to-end test set it). Never set it for a real migration.
DEMO_LEAVE_OUT_DAY = os.environ.get("VOUCHERIFY_DEMO_LEAVE_OUT_DAY") or None


def _month_parts(start: datetime, end: datetime) -> list[tuple[str, str]]:
    # The month as the warehouse queries see it (without the demo's left-out day, when set).
    leave_out = datetime.fromisoformat(DEMO_LEAVE_OUT_DAY).date() if DEMO_LEAVE_OUT_DAY else None
    return parts(start, end, leave_out)


def _month_dir(staging_base: str, start: datetime, run_id: str) -> ObjectStoragePath:
    # The run's own folder in its month's: run ids hold ':' and '+', kept out of paths and keys.
    run = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return ObjectStoragePath(staging_base) / "voucherify_orders_backfill" / f"{start:%Y-%m}" / run


with DAG(
    dag_id="voucherify_orders_backfill",
    description="Monthly backfill of historical orders from a SQL warehouse into Voucherify",
    # A data-interval timetable: the run for January covers [Jan 1, Feb 1) and starts after it.
    # (A plain "@monthly" makes a point-in-time trigger on Airflow 3: no interval to extract.)
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="UTC"),
    start_date=START,
    end_date=END.replace(tzinfo=timezone.utc),
    catchup=True,
    max_active_runs=3,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "warehouse_conn_id": Param(
            os.environ.get("VOUCHERIFY_WAREHOUSE_CONN_ID", "warehouse"),
            type="string",
            description="A common SQL connection (SQLite, Postgres, Snowflake, BigQuery...)",
        ),
        "staging_base": Param(
            os.environ.get("VOUCHERIFY_STAGING_BASE", "file:///tmp/voucherify-staging"),
            type="string",
            description="ObjectStoragePath base for the staged JSON Lines (s3://..., file://...)",
        ),
        "dry_run": Param(
            False, type="boolean", description="Validate and report batches and bulk calls; send nothing"
        ),
        "customer_details": Param(
            "full",
            enum=["full", "source_id_only"],
            description="full: orders update customer profiles; source_id_only: only link them",
        ),
        "verify_sample_size": Param(
            int(os.environ.get("VOUCHERIFY_VERIFY_SAMPLE_SIZE", "20")),
            type="integer",
            minimum=0,
            description="Imported orders read back and compared with what was sent",
        ),
        "voucherify_conn_id": Param(
            "voucherify_default", type="string", minLength=1, description="The Voucherify connection"
        ),
    },
    tags=["voucherify", "example"],
    doc_md=__doc__,
):

    @task(multiple_outputs=True)
    def extract_transform(
        params: Any = None, data_interval_start: Any = None, data_interval_end: Any = None, run_id: Any = None
    ) -> dict[str, str]:
        """Stream the month's order lines straight into orders.jsonl.gz; only the paths go to XCom.

        One task, not two: rows flow from the cursor into the gzip stream one order at a time,
        so neither the raw rows (personal data) nor a second copy are ever staged or held.
        """
        from airflow_provider_voucherify.example.warehouse import stage_orders

        hook = BaseHook.get_hook(params["warehouse_conn_id"])
        month = _month_dir(params["staging_base"], data_interval_start, run_id)
        intervals = _month_parts(data_interval_start, data_interval_end)
        count = stage_orders(hook, intervals, month / "orders.jsonl.gz", params["customer_details"])
        if count == 0:
            raise AirflowSkipException(f"No orders in [{data_interval_start}, {data_interval_end})")
        log.info("%d orders of [%s, %s) staged in %s", count, data_interval_start, data_interval_end, month)
        return {
            "orders": str(month / "orders.jsonl.gz"),
            "rejects": str(month / "rejects.jsonl"),
            "failed_orders": str(month / "failed_orders.jsonl"),
        }

    staged = extract_transform()

    import_orders = ImportOrdersOperator(
        task_id="import_orders",
        orders=staged["orders"],
        rejects_path=staged["rejects"],
        voucherify_conn_id="{{ params.voucherify_conn_id }}",
        batch_size=BATCH_SIZE,
        on_invalid="skip",
        max_invalid=MAX_INVALID,
        max_active_tis_per_dag=1,
        dry_run="{{ params.dry_run }}",
        pool=IMPORT_POOL,
        # On a bulk-call limit, wait for the window in the triggerer: no worker, no pool slot.
        deferrable=True,
    )

    @task.short_circuit
    def sent_anything(params: Any = None) -> bool:
        """A dry run sent nothing: skip waiting, reconciling and verifying."""
        return not params["dry_run"]

    wait_for_import = AsyncActionSensor(
        task_id="wait_for_import",
        async_action_ids=import_orders.output,
        voucherify_conn_id="{{ params.voucherify_conn_id }}",
        deferrable=True,
        poke_interval=POLL_INTERVAL,
        timeout=timedelta(hours=12),
    )

    # Voucherify's side, from the staged file alone: counts from the async actions, then a sample
    # read back by source_id and compared on every field sent. of_import takes the import's input,
    # actions, connection and batch settings, so the two read the staged file alike.
    # compare_customers=True also reads each sampled customer (one GET per distinct customer) to
    # compare its source_id and profile; the default checks customers by link only, at no cost.
    reconcile = ReconcileOrdersOperator.of_import(
        import_orders,
        task_id="reconcile",
        sample_size="{{ params.verify_sample_size }}",
        seed="{{ run_id }}",
        compare_customers=True,
        failed_orders_path=staged["failed_orders"],
        retries=0,
    )
    import_orders >> sent_anything() >> wait_for_import >> reconcile

    @task(retries=0)
    def verify(
        reconciliation: dict[str, Any],
        params: Any = None,
        data_interval_start: Any = None,
        data_interval_end: Any = None,
    ) -> dict[str, int]:
        """The warehouse's side: extracted == imported + rejected + refused."""
        from airflow_provider_voucherify.example.verify import check_counts
        from airflow_provider_voucherify.example.warehouse import count_in

        warehouse = BaseHook.get_hook(params["warehouse_conn_id"])
        extracted = count_in(warehouse, _month_parts(data_interval_start, data_interval_end))
        figures = check_counts(extracted, reconciliation)
        log.info("Verified: %s", figures)
        return figures

    @task(outlets=[Asset(BACKFILL_DONE)])
    def hand_over_to_audit(data_interval_end: Any = None) -> None:
        """The last month's run updates the asset the audit DAG (voucherify_orders_audit) waits on."""
        if data_interval_end < END.replace(tzinfo=timezone.utc):
            raise AirflowSkipException("Not the backfill's last month: the audit starts after the last one")
        log.info("The backfill's last month is done: the whole-migration audit is next")

    verify(reconcile.output) >> hand_over_to_audit()
