"""Audit a whole migration: is every order the warehouse holds for the period in Voucherify?

What it shows: the proof that a backfill is complete. Each month of ``voucherify_orders_backfill``
checks only the file it staged itself, so an order that fell between runs (a first month started
mid-month, a skipped month, a file the import refused) is seen by no month. This DAG extracts
every order of the whole period with the same extract code as the monthly runs, and compares
each one with one export of what Voucherify holds (``POST /v1/exports``: a handful of calls,
whatever the number of orders). Orders missing from Voucherify, or held with other values, are
written unchanged to ``missing_orders.jsonl``, ready to import again (``voucherify_import_file``
with ``orders_path`` set to it); then the audit fails, naming them by ``source_id`` and field.

    backfill_finished ──> extract_period ──> audit
    (no backfill run     (SQL → orders.jsonl.gz,   (ReconcileOrdersOperator, method="export",
     left running)        the whole period)          async_action_ids=None: every order compared)

Why a DAG of its own rather than a last task of the backfill: the months run side by side
(``max_active_runs``), so a last task would have to wait for its sibling runs anyway; the audit
runs once, after the last month, instead of sitting skipped in every month's graph; and it can be
run again on its own, with no month to clear: after the missing orders are imported again, or
just before the cut-over. The backfill's last month starts it through an asset
(``hand_over_to_audit`` updates it); trigger it by hand at any time.

Params (defaults below; override per run from the trigger form or ``--conf``):
  ``period_start``, ``period_end``  the migrated period, ``YYYY-MM-DD``; whole months, as the
                          backfill runs them: from ``period_start``'s month to the end of
                          ``period_end``'s (defaults: the backfill's ``VOUCHERIFY_BACKFILL_START``
                          and ``VOUCHERIFY_BACKFILL_END``)
  ``warehouse_conn_id``, ``staging_base``, ``customer_details``, ``voucherify_conn_id``
                          as in the backfill; the audit's files go to
                          ``<staging_base>/voucherify_orders_audit/<first month>_<last month>/``
  ``item_sample_size``    orders also read back one by one to compare their items, which no
                          export carries (default 0: each month's reconcile already sampled items)

Settings read when the file is parsed: ``VOUCHERIFY_POLL_INTERVAL`` (seconds between two looks at
the backfill's runs; default and least 60), and the params' defaults above. The export is waited for as the
operator paces it, in the triggerer (``deferrable=True``).
"""

from __future__ import annotations

import logging
import os
from datetime import date, datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, Asset, BaseHook, ObjectStoragePath, Param, PokeReturnValue, task

from airflow_provider_voucherify.example.periods import BACKFILL_DONE, migration_period, parts
from airflow_provider_voucherify.operators.reconcile_orders import ReconcileOrdersOperator
from airflow_provider_voucherify.rate_limits import MIN_DEFER_SECONDS

log = logging.getLogger(__name__)

BACKFILL_DAG_ID = "voucherify_orders_backfill"
POLL_INTERVAL = float(os.environ.get("VOUCHERIFY_POLL_INTERVAL", "60"))
# Rescheduled at least a minute apart: Airflow can fail a try that resumes within seconds of its
# reschedule (apache/airflow#72716), and the months it waits for take longer than that anyway.
RECHECK_INTERVAL = max(POLL_INTERVAL, MIN_DEFER_SECONDS)

with DAG(
    dag_id="voucherify_orders_audit",
    description="Prove a whole migration complete: every warehouse order of the period in Voucherify",
    schedule=[Asset(BACKFILL_DONE)],
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    # Retries cure what a retry can (a lost connection, Airflow failing a try that resumed from a
    # reschedule or a deferral); a gap found is AirflowFailException, which is never retried.
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "period_start": Param(
            os.environ.get("VOUCHERIFY_BACKFILL_START", "2024-01-01"),
            type="string",
            format="date",
            description="First day of the migrated period (its whole month is audited)",
        ),
        "period_end": Param(
            os.environ.get("VOUCHERIFY_BACKFILL_END", "2024-03-31"),
            type="string",
            format="date",
            description="Last day of the migrated period (its whole month is audited)",
        ),
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
        "customer_details": Param(
            "full",
            enum=["full", "source_id_only"],
            description="As the backfill sent them: missing orders are written ready to import again",
        ),
        "item_sample_size": Param(
            0, type="integer", minimum=0, description="Orders also read back to compare their items"
        ),
        "voucherify_conn_id": Param(
            "voucherify_default", type="string", minLength=1, description="The Voucherify connection"
        ),
    },
    tags=["voucherify", "example"],
    doc_md=__doc__,
):

    @task.sensor(poke_interval=RECHECK_INTERVAL, timeout=timedelta(hours=24), mode="reschedule")
    def backfill_finished(ti: Any = None) -> PokeReturnValue:
        """Months still importing would show as missing: start once no backfill run is left running."""
        unfinished = ti.get_dr_count(dag_id=BACKFILL_DAG_ID, states=["queued", "running"])
        log.info("%d run(s) of %s queued or running", unfinished, BACKFILL_DAG_ID)
        return PokeReturnValue(is_done=unfinished == 0)

    @task(multiple_outputs=True)
    def extract_period(params: Any = None) -> dict[str, str]:
        """Stream every order of the period out of the warehouse, as each month's run does."""
        from airflow_provider_voucherify.example.warehouse import stage_orders

        start, end = migration_period(
            date.fromisoformat(params["period_start"]), date.fromisoformat(params["period_end"])
        )
        last_month = end - timedelta(days=1)
        period = f"{start:%Y-%m}_{last_month:%Y-%m}"
        folder = ObjectStoragePath(params["staging_base"]) / "voucherify_orders_audit" / period
        hook = BaseHook.get_hook(params["warehouse_conn_id"])
        # The whole period, no day left out: the audit sees what the warehouse holds.
        count = stage_orders(hook, parts(start, end), folder / "orders.jsonl.gz", params["customer_details"])
        log.info("%d orders of [%s, %s) staged in %s", count, start, end, folder)
        return {
            "orders": str(folder / "orders.jsonl.gz"),
            "missing_orders": str(folder / "missing_orders.jsonl"),
        }

    staged = extract_period()

    # --8<-- [start:audit]
    audit = ReconcileOrdersOperator(
        task_id="audit",
        method="export",  # every order compared with one export of what Voucherify holds
        orders=staged["orders"],  # every order the warehouse holds for the period
        async_action_ids=None,  # no import to count: a whole-migration audit
        missing_orders_path=staged["missing_orders"],  # their lines, ready to import again
        sample_size="{{ params.item_sample_size }}",  # items are in no export: read back a sample
        voucherify_conn_id="{{ params.voucherify_conn_id }}",
        deferrable=True,  # the export is waited for in the triggerer
    )
    # --8<-- [end:audit]

    backfill_finished() >> staged
