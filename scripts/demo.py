"""`make demo`: the example backfill DAG end to end on this machine, in a few minutes.

1. builds a sample SQLite warehouse (three months of orders, one bad order a month) in .demo/,
2. starts the Voucherify emulator (a real HTTP server) on a free port,
3. points Airflow at both through environment variables only: AIRFLOW_HOME is .demo/airflow,
   connections are AIRFLOW_CONN_* variables, nothing is written to ~/airflow,
4. runs the DAG ``voucherify_orders_backfill`` once per month with ``dag.test()``,
5. prints the reconciliation table (what each month's reconcile and verify steps found),
6. runs the whole-migration audit DAG ``voucherify_orders_audit`` once with ``dag.test()``: the demo
   left one day of the middle month out on purpose (``VOUCHERIFY_DEMO_LEAVE_OUT_DAY``, a gap the
   month's own checks cannot see), and the audit must find exactly that day's orders and write them
   to its missing-orders file (scripts/demo_audit.py),
7. prints the audit's table, stops the emulator, and exits 1 if anything went otherwise.

    python -m scripts.demo [--orders-per-month 300] [--months 3] [--keep] [--no-gap]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from scripts.demo_audit import day_to_leave_out, print_audit, run_audit, valid_orders_on
from scripts.sample_warehouse import Warehouse, build_sqlite

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / ".demo"
DAG_ID = "voucherify_orders_backfill"
POOL = "voucherify_imports"


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def airflow_env(
    home: Path,
    *,
    warehouse_conn: str,
    voucherify_conn: str,
    staging: Path,
    start: date,
    end: date,
    poll_interval: float = 1.0,
    sample_size: int = 20,
    leave_out_day: date | None = None,
) -> dict[str, str]:
    """Environment for an isolated Airflow running the example DAGs (used by the demo and the tests).

    :param leave_out_day: demo only: a day its month's run leaves out (a gap for the audit to find)
    """
    gap = {"VOUCHERIFY_DEMO_LEAVE_OUT_DAY": leave_out_day.isoformat()} if leave_out_day else {}
    return {
        **gap,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_WAREHOUSE": warehouse_conn,
        "AIRFLOW_CONN_VOUCHERIFY_DEFAULT": voucherify_conn,
        "VOUCHERIFY_WAREHOUSE_CONN_ID": "warehouse",
        "VOUCHERIFY_STAGING_BASE": staging.as_uri(),
        "VOUCHERIFY_BACKFILL_START": start.isoformat(),
        "VOUCHERIFY_BACKFILL_END": end.isoformat(),
        "VOUCHERIFY_POLL_INTERVAL": str(poll_interval),
        "VOUCHERIFY_VERIFY_SAMPLE_SIZE": str(sample_size),
        # The demo creates the pool (prepare_airflow), as a shared deployment would.
        "VOUCHERIFY_IMPORT_POOL": POOL,
    }


def airflow_cli(*args: str, env: dict[str, str]) -> str:
    """Run ``airflow ARGS`` with this interpreter; raise with its output when it fails."""
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"airflow {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def prepare_airflow(env: dict[str, str]) -> None:
    """Migrate the metadata database and create the import pool (one slot)."""
    airflow_cli("db", "migrate", env=env)
    airflow_cli("pools", "set", POOL, "1", "Voucherify order imports: one at a time per project", env=env)


def run_months(months: list[date], conf: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``dag.test()`` once per month, in this process; the environment must already be set.

    :param conf: the runs' params (``{"dry_run": True}``...)
    """
    # After the environment: it reads AIRFLOW_HOME.
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    try:
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag, sync_bag_to_db
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    # Airflow's in-process task runner imports starlette's test client, which warns about
    # httpx on every run: not the demo's business, and alarming on a first run.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    bag = DagBag(dag_folder=str(ROOT / "dags" / f"{DAG_ID}.py"))
    if bag.import_errors:
        raise RuntimeError(f"the DAG does not import: {bag.import_errors}")
    # dag.test() on Airflow 3.1 runs only a DAG the metadata DB holds serialized.
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)
    dag = bag.get_dag(DAG_ID)
    results = []
    for month in months:
        # A data-interval timetable: the run triggered at the month's end covers the month.
        when = datetime.combine(next_month(month), datetime.min.time(), tzinfo=timezone.utc)
        started = time.monotonic()
        print(f"Running {DAG_ID} for {month:%Y-%m} ...", flush=True)
        run = dag.test(logical_date=when, run_conf=conf)
        # Airflow's own query, not its tables (3.4 moved XComs to a per-attempt table); a task that
        # failed or did not run returned nothing (None).
        with create_session() as session:
            rows = (
                session.scalars(
                    XComModel.get_many(
                        run_id=run.run_id, task_ids=task_id, dag_ids=DAG_ID, key="return_value"
                    )
                ).one_or_none()
                for task_id in ("verify", "reconcile")
            )
            verified, reconciled = (None if row is None else XComModel.deserialize_value(row) for row in rows)
        results.append(
            {
                "month": f"{month:%Y-%m}",
                "run_id": run.run_id,
                "state": str(run.state),
                "seconds": time.monotonic() - started,
                "verified": verified,
                "reconciled": reconciled,
            }
        )
    return results


# (column, task, key): the warehouse count comes from verify, the rest from reconcile.
COLUMNS = (
    ("extracted", "verified", "extracted"),
    ("rejected", "reconciled", "invalid"),
    ("sent", "reconciled", "sent"),
    ("imported", "reconciled", "done"),
    ("refused", "reconciled", "failed"),
    ("sampled", "reconciled", "sampled"),
    ("matched", "reconciled", "matched"),
    ("mismatch", "reconciled", "mismatches"),
)


def _line(first: str, second: str, cells: list[str]) -> str:
    return f"{first:8} {second:8} " + " ".join(f"{cell:>9}" for cell in cells)


def print_summary(
    warehouse: Warehouse, results: list[dict[str, Any]], seconds: float, left_out: int = 0
) -> bool:
    """The months' table; ``left_out``: valid orders the demo's gap kept from the import."""
    ok = True
    print("\nVoucherify backfill demo: the reconciliation of each month\n")
    print(_line("month", "state", [name for name, _, _ in COLUMNS]) + "  catches corruption above")
    totals = dict.fromkeys((name for name, _, _ in COLUMNS), 0)
    for result in results:
        cells = []
        for name, task, key in COLUMNS:
            value = (result.get(task) or {}).get(key)
            totals[name] += value or 0
            cells.append("-" if value is None else str(value))
        rate = (result.get("reconciled") or {}).get("detectable_corruption_rate")
        power = "-" if rate is None else f"{rate:.1%}"
        print(_line(result["month"], result["state"], cells) + f"  {power}")
        ok = ok and result["state"] == "success" and result["verified"] is not None
    print(_line("total", "", [str(value) for value in totals.values()]))
    expected = warehouse.orders - warehouse.bad_orders - left_out
    ok = ok and totals["imported"] == expected and totals["matched"] == totals["sampled"]
    gap = f" with {left_out} left out on purpose" if left_out else ""
    print(
        f"\n{totals['imported']} orders imported (expected {expected}{gap}), {totals['rejected']} rejected "
        f"(bad on purpose: {warehouse.bad_orders}), {totals['matched']} of {totals['sampled']} sampled "
        f"orders matched what was sent field by field, in {seconds:.0f} s."
    )
    print(
        "'catches corruption above': with every sampled order matching, a share of wrongly stored "
        "orders above this would have been caught with 95% probability."
    )
    print(
        f"Rejected orders are listed in {DEMO_DIR.relative_to(ROOT)}/staging/{DAG_ID}/"
        "<month>/<run>/rejects.jsonl"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the example backfill DAG against the emulator.")
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--orders-per-month", type=int, default=300)
    parser.add_argument(
        "--keep", action="store_true", help="leave the emulator's and Airflow's files in .demo/"
    )
    parser.add_argument(
        "--no-gap", action="store_true", help="leave no day out: the audit then finds nothing missing"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    DEMO_DIR.mkdir()

    from airflow_provider_voucherify.emulator.testing import EmulatorServer

    print(f"Building the sample warehouse: {args.months} months x {args.orders_per_month} orders")
    warehouse = build_sqlite(
        DEMO_DIR / "warehouse.db", months=args.months, orders_per_month=args.orders_per_month
    )
    months = [month.start for month in warehouse.months]
    left_out = None if args.no_gap else day_to_leave_out(months)
    gap = valid_orders_on(DEMO_DIR / "warehouse.db", left_out) if left_out else set()
    if left_out:
        print(
            f"Demo only: {left_out} is left out of its month's run ({len(gap)} valid orders), "
            "for the audit to find"
        )
    with EmulatorServer(DEMO_DIR / "emulator", orders_per_second=500) as emulator:
        print(f"Voucherify emulator listening on {emulator.url}")
        env = {
            **os.environ,
            **airflow_env(
                DEMO_DIR / "airflow",
                warehouse_conn=json.dumps({"conn_type": "sqlite", "host": str(DEMO_DIR / "warehouse.db")}),
                voucherify_conn=emulator.conn_json,
                staging=DEMO_DIR / "staging",
                start=months[0],
                # dag.test() names a run by its interval's end; the last one must not pass end_date.
                end=next_month(months[-1]),
                leave_out_day=left_out,
            ),
        }
        print("Preparing Airflow's metadata database in .demo/airflow (a minute on a new machine)")
        prepare_airflow(env)
        os.environ.update(env)
        results: list[dict[str, Any]] = []
        audit = None
        try:
            results = run_months(months)
            audit = run_audit(months[0], months[-1], DEMO_DIR / "staging")
        except Exception as exc:  # the summary below still tells which months ran
            print(f"The demo stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
        stats = emulator.stats()
    ok = print_summary(warehouse, results, time.monotonic() - started, left_out=len(gap))
    ok = audit is not None and print_audit(audit, left_out, gap) and ok
    print("PASSED" if ok else "FAILED: see the task logs above")
    print(f"Emulator: {json.dumps(stats)[:300]}")
    if not args.keep:
        shutil.rmtree(DEMO_DIR / "emulator", ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
