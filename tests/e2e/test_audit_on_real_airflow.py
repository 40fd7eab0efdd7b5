"""The whole-migration audit on a real Airflow finds a day a three-month backfill left out.

api-server, scheduler (LocalExecutor), dag-processor and triggerer run as separate processes.
The backfill's catchup makes three monthly runs; February's leaves out February 14 from both its
extract and its count (the demo-only switch), so every month's own checks pass. The last month's
``hand_over_to_audit`` updates the asset the audit DAG is scheduled on; the scheduler starts the
audit, which extracts the whole quarter and compares every order with one export: it must name
exactly the valid orders of February 14 as missing, write their lines to its missing-orders
file, and fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from scripts.demo import DAG_ID
from scripts.demo_audit import AUDIT_DAG_ID, missing_orders_path, valid_orders_on
from scripts.sample_warehouse import Warehouse, build_sqlite
from tests.e2e.airflow_cluster import AirflowCluster
from tests.e2e.backfill_cluster import example_dags_cluster
from tests.e2e.test_backfill_on_real_airflow import stored_source_ids, valid_source_ids

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ORDERS_PER_MONTH = 60
LEFT_OUT = date(2024, 2, 14)


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    built = build_sqlite(tmp_path / "warehouse.db", months=3, orders_per_month=ORDERS_PER_MONTH, seed=3)
    assert valid_orders_on(tmp_path / "warehouse.db", LEFT_OUT), "the left-out day must hold valid orders"
    return built


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with EmulatorServer(tmp_path / "emulator", orders_per_second=200) as emulator:
        yield emulator


@pytest.fixture
def cluster(tmp_path: Path, warehouse: Warehouse, server: EmulatorServer) -> Iterator[AirflowCluster]:
    # Catchup makes exactly three runs: January, February and March.
    with example_dags_cluster(
        tmp_path,
        server.conn_json,
        start=date(2024, 1, 1),
        end=date(2024, 3, 31),
        sample_size=5,
        leave_out_day=LEFT_OUT,
    ) as airflow:
        yield airflow


def test_the_audit_finds_the_day_a_three_month_backfill_left_out(
    cluster: AirflowCluster, warehouse: Warehouse, server: EmulatorServer, tmp_path: Path
) -> None:
    def audit_finished() -> list[tuple[Any, ...]] | None:
        failed = cluster.query("SELECT run_id FROM dag_run WHERE dag_id = ? AND state = 'failed'", DAG_ID)
        if failed:
            raise AssertionError(f"backfill runs failed: {failed}\n{cluster.logs()}")
        runs = cluster.query(
            "SELECT run_id, state, run_type FROM dag_run WHERE dag_id = ? AND state IN ('success', 'failed')",
            AUDIT_DAG_ID,
        )
        return runs or None

    audits = cluster.wait_for("the audit DAG to finish", audit_finished, timeout=780, interval=0.5)
    tasks = dict(
        cluster.query(
            "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
            AUDIT_DAG_ID,
            audits[0][0],
        )
    )
    why = "\n".join(cluster.why_retried(task) for task in ("backfill_finished", "extract_period", "audit"))
    assert tasks == {"backfill_finished": "success", "extract_period": "success", "audit": "failed"}, why
    for task in ("backfill_finished", "extract_period"):
        assert cluster.retries_not_from_the_resume_race(AUDIT_DAG_ID, task) == [], why

    months = cluster.query(
        "SELECT data_interval_start, state FROM dag_run WHERE dag_id = ? ORDER BY data_interval_start", DAG_ID
    )
    assert [(start[:10], state) for start, state in months] == [
        ("2024-01-01", "success"),
        ("2024-02-01", "success"),
        ("2024-03-01", "success"),
    ]
    # Only the last month hands over, and the scheduler starts the audit from the asset it updates.
    handed_over = cluster.query(
        "SELECT dr.data_interval_start, ti.state FROM task_instance ti JOIN dag_run dr"
        " ON dr.run_id = ti.run_id AND dr.dag_id = ti.dag_id"
        " WHERE ti.dag_id = ? AND ti.task_id = 'hand_over_to_audit'"
        " ORDER BY dr.data_interval_start",
        DAG_ID,
    )
    assert [state for _, state in handed_over] == ["skipped", "skipped", "success"]
    assert [(state, run_type) for _, state, run_type in audits] == [("failed", "asset_triggered")], (
        cluster.logs()
    )

    # What the backfill left out, and only that, is named missing and written for re-import.
    gap = valid_orders_on(tmp_path / "warehouse.db", LEFT_OUT)
    assert stored_source_ids(server) == valid_source_ids(tmp_path / "warehouse.db") - gap
    missing = missing_orders_path(tmp_path / "staging", date(2024, 1, 1), date(2024, 3, 1))
    lines = [json.loads(line) for line in missing.read_text().splitlines() if line.strip()]
    assert sorted(line["source_id"] for line in lines) == sorted(gap)
    assert all(line["created_at"].startswith(f"{LEFT_OUT}") for line in lines)
