"""Backfill historical orders from a SQL warehouse into Voucherify, one month per DAG run.

What it shows: a monthly data-interval schedule with ``catchup`` walks through history; each run
streams its month out of the warehouse into a JSON Lines .gz file, imports it, waits for
Voucherify in the triggerer, reconciles what Voucherify holds with the staged file, and checks
the warehouse's count.

    extract_transform ──> import_orders ──> sent_anything ──> wait_for_import ──> reconcile ──> verify
    (SQL → orders.jsonl.gz)  (one at a time)  (dry run?)  (deferrable)  (sample)  (warehouse count)

Params (defaults below; override per run from the trigger form or ``--conf``):
  ``warehouse_conn_id``   any connection whose hook is a common SQL ``DbApiHook`` (SQLite,
                          Postgres, Snowflake, BigQuery...); the queries below use plain SQL
  ``staging_base``        where the staged files go: an ``ObjectStoragePath`` base such as
                          ``s3://bucket/voucherify`` or ``file:///shared/dir``; every worker must
                          reach it (local files only work on a single machine)
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
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, BaseHook, ObjectStoragePath, Param, task

try:
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowSkipException
    from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.operators.reconcile_orders import ReconcileOrdersOperator
from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor

log = logging.getLogger(__name__)


def month_start(day: datetime) -> datetime:
    """The first moment (UTC) of ``day``'s month: a monthly schedule's first run starts at the
    first boundary at or after ``start_date``, so a start inside a month would skip its first days."""
    return day.replace(day=1, hour=0, minute=0, second=0, microsecond=0, tzinfo=timezone.utc)


START = month_start(datetime.fromisoformat(os.environ.get("VOUCHERIFY_BACKFILL_START", "2024-01-01")))
END = datetime.fromisoformat(os.environ.get("VOUCHERIFY_BACKFILL_END", "2024-03-31"))
POLL_INTERVAL = float(os.environ.get("VOUCHERIFY_POLL_INTERVAL", "60"))
# A pool that does not exist would leave imports "scheduled" forever: use one only when named.
IMPORT_POOL = os.environ.get("VOUCHERIFY_IMPORT_POOL") or None
BATCH_SIZE = int(os.environ.get("VOUCHERIFY_BATCH_SIZE", "2000"))
MAX_INVALID = 100  # refused records tolerated per month before the import fails

# The shop's status words mapped to the API's; shared by both queries.
STATUS = """CASE o.status WHEN 'pending' THEN 'CREATED' WHEN 'paid' THEN 'PAID'
    WHEN 'fulfilled' THEN 'FULFILLED' WHEN 'cancelled' THEN 'CANCELED' END"""

# One row per order line, the lines of an order consecutive; the column names are the contract
# of airflow_provider_voucherify.example.transform. {placeholder} becomes the hook's paramstyle.
ORDER_LINES_SQL = f"""
SELECT o.source_id AS order_source_id, {STATUS} AS order_status, o.total AS order_amount,
       o.placed_at AS order_created_at,
       c.source_id AS customer_source_id, c.first_name || ' ' || c.last_name AS customer_name,
       c.email AS customer_email, c.phone AS customer_phone, c.city AS customer_city,
       c.country AS customer_country,
       r.source_id AS referrer_source_id, r.first_name || ' ' || r.last_name AS referrer_name,
       r.email AS referrer_email,
       p.source_id AS product_source_id, p.name AS product_name, p.list_price AS product_price,
       s.source_id AS sku_source_id, s.code AS sku_code, s.list_price AS sku_price,
       l.quantity, l.unit_price
FROM orders o
JOIN order_lines l ON l.order_id = o.order_id
JOIN skus s ON s.sku_id = l.sku_id
JOIN products p ON p.product_id = s.product_id
LEFT JOIN customers c ON c.customer_id = o.customer_id
LEFT JOIN customers r ON r.customer_id = o.referrer_id
WHERE o.placed_at >= {{placeholder}} AND o.placed_at < {{placeholder}}
ORDER BY o.placed_at, o.source_id, l.line_no
"""

# The orders of the month, counted where they come from.
COUNT_SQL = """
SELECT COUNT(*) AS orders FROM orders o
WHERE o.placed_at >= {placeholder} AND o.placed_at < {placeholder}
"""


def _interval(start: datetime, end: datetime) -> tuple[str, str]:
    # Text in UTC, the form every warehouse compares with a TIMESTAMP column.
    return tuple(  # type: ignore[return-value]
        moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") for moment in (start, end)
    )


def _month_dir(staging_base: str, start: datetime) -> ObjectStoragePath:
    return ObjectStoragePath(staging_base) / "voucherify_orders_backfill" / f"{start:%Y-%m}"


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
        params: Any = None, data_interval_start: Any = None, data_interval_end: Any = None
    ) -> dict[str, str]:
        """Stream the month's order lines straight into orders.jsonl.gz; only the paths go to XCom.

        One task, not two: rows flow from the cursor into the gzip stream one order at a time,
        so neither the raw rows (personal data) nor a second copy are ever staged or held.
        """
        from airflow_provider_voucherify.example.extract import stream_rows
        from airflow_provider_voucherify.example.transform import orders_from_rows, write_jsonl_gz

        hook = BaseHook.get_hook(params["warehouse_conn_id"])
        month = _month_dir(params["staging_base"], data_interval_start)
        rows = stream_rows(hook, ORDER_LINES_SQL, _interval(data_interval_start, data_interval_end))
        orders = orders_from_rows(rows, customer_details=params["customer_details"])
        count = write_jsonl_gz(orders, month / "orders.jsonl.gz")
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
        from airflow_provider_voucherify.example.verify import check_counts, count_orders

        warehouse = BaseHook.get_hook(params["warehouse_conn_id"])
        extracted = count_orders(warehouse, COUNT_SQL, _interval(data_interval_start, data_interval_end))
        figures = check_counts(extracted, reconciliation)
        log.info("Verified: %s", figures)
        return figures

    verify(reconcile.output)
