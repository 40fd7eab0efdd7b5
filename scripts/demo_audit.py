"""`make demo`'s last act: the whole-migration audit, and the gap it must find.

The demo leaves one day out of one month on purpose (``VOUCHERIFY_DEMO_LEAVE_OUT_DAY``): that
month's extract and its count both skip the day, so the month's own checks pass. The audit DAG
(``voucherify_orders_audit``) then extracts the whole period and compares every order with one
export of what Voucherify holds; it must name exactly that day's valid orders as missing and
write their lines to its missing-orders file (then fail, as an audit with a gap does).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

AUDIT_DAG_ID = "voucherify_orders_audit"
DAGS = Path(__file__).resolve().parent.parent / "dags"


def day_to_leave_out(months: list[date]) -> date:
    """The demo's gap: the 14th of the middle month."""
    return months[len(months) // 2].replace(day=14)


def valid_orders_on(warehouse: Path, day: date) -> set[str]:
    """The ``source_id`` of the warehouse's valid orders placed on ``day`` (UTC)."""
    with sqlite3.connect(f"file:{warehouse}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT source_id FROM orders WHERE placed_at >= ? AND placed_at < ?"
            " AND source_id NOT IN (SELECT source_id FROM known_bad_orders)",
            (f"{day} 00:00:00", f"{day + timedelta(days=1)} 00:00:00"),
        )
        return {source_id for (source_id,) in rows}


def missing_orders_path(staging: Path, first_month: date, last_month: date) -> Path:
    """Where the audit DAG writes the lines of the missing orders for that period."""
    period = f"{first_month:%Y-%m}_{last_month:%Y-%m}"
    return staging / AUDIT_DAG_ID / period / "missing_orders.jsonl"


@dataclass
class AuditOutcome:
    state: str
    seconds: float
    summary: dict[str, Any] | None  # the audit task's XCom, when it has one
    missing_path: Path
    missing_by_day: Counter[str] = field(default_factory=Counter)
    missing_ids: set[str] = field(default_factory=set)


def run_audit(first_month: date, last_month: date, staging: Path) -> AuditOutcome:
    """``dag.test()`` of the audit DAG over ``[first_month, end of last_month]`` (environment set)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    bag = DagBag(dag_folder=str(DAGS / f"{AUDIT_DAG_ID}.py"))
    if bag.import_errors:
        raise RuntimeError(f"the audit DAG does not import: {bag.import_errors}")
    dag = bag.get_dag(AUDIT_DAG_ID)
    period_end = (last_month.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    started = time.monotonic()
    print(f"Running {AUDIT_DAG_ID} for {first_month:%Y-%m} to {last_month:%Y-%m} ...", flush=True)
    run = dag.test(run_conf={"period_start": first_month.isoformat(), "period_end": period_end.isoformat()})
    with create_session() as session:
        rows = (
            session.query(XComModel.key, XComModel.value)
            .filter_by(dag_id=AUDIT_DAG_ID, run_id=run.run_id, task_id="audit")
            .all()
        )
    values = {key: json.loads(value) if isinstance(value, (str, bytes)) else value for key, value in rows}
    summary = values.get("return_value") or {
        k: values[k] for k in ("checked", "missing", "differing") if k in values
    }
    outcome = AuditOutcome(
        str(run.state),
        time.monotonic() - started,
        summary or None,
        missing_orders_path(staging, first_month, last_month),
    )
    if outcome.missing_path.exists():
        for line in outcome.missing_path.read_text().splitlines():
            if line.strip():
                order = json.loads(line)
                outcome.missing_ids.add(order["source_id"])
                placed = (
                    order.get("metadata", {}).get("original_created_at") or order.get("created_at") or "?"
                )
                outcome.missing_by_day[placed[:10]] += 1
    return outcome


def print_audit(outcome: AuditOutcome, left_out: date | None, expected: set[str]) -> bool:
    """The audit's table; ``True`` when it found exactly the orders of the day left out on purpose
    (``expected``), or, with no day left out, nothing missing and the audit succeeded."""
    summary = outcome.summary or {}

    def cell(key: str) -> str:
        return str(summary[key]) if key in summary else "-"

    print("\nThe whole-migration audit: every order of the period compared with one export\n")
    print(f"{'state':8} {'checked':>9} {'missing':>9} {'differing':>9} {'in file':>9}")
    print(
        f"{outcome.state:8} {cell('checked'):>9} {cell('missing'):>9} {cell('differing'):>9} "
        f"{len(outcome.missing_ids):>9}"
    )
    if not summary:
        print("(a failed task returns no XCom: its failure above gives the counts and names each order)")
    print("\nMissing orders by the day they were placed:")
    for day, count in sorted(outcome.missing_by_day.items()):
        print(
            f"  {day}: {count} order(s)"
            + ("  <- the day the demo left out on purpose" if day == f"{left_out}" else "")
        )
    if not outcome.missing_by_day:
        print("  (none)")
    if left_out is None:
        clean = outcome.state == "success" and not outcome.missing_ids
        print(
            "\nNo day was left out: "
            + ("the audit found nothing missing." if clean else "yet the audit failed.")
        )
        return clean
    caught = outcome.missing_ids == expected and bool(expected)
    print(
        f"\nThe demo left {left_out} out of its month ({len(expected)} valid orders): "
        + ("the audit caught exactly those" if caught else "the audit did NOT find exactly those")
        + f", their lines are in {outcome.missing_path} (import that file to close the gap)."
    )
    return caught
