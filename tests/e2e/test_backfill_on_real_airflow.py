"""The backfill DAG on a real Airflow: two monthly runs made by the scheduler's catchup.

api-server, scheduler (LocalExecutor), dag-processor and triggerer run as separate processes.
The test watches the sensor wait in the ``deferred`` state, sees the triggerer resume it, and
checks that the emulator holds exactly the warehouse's valid orders afterwards.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from scripts.demo import DAG_ID
from scripts.sample_warehouse import Warehouse, build_sqlite
from tests.e2e.airflow_cluster import AirflowCluster
from tests.e2e.backfill_cluster import example_dags_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ORDERS_PER_MONTH = 40
# Slow enough that each month's import stays in progress for several seconds, so the trigger
# polls progress more than once.
ORDERS_PER_SECOND = 5


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return build_sqlite(tmp_path / "warehouse.db", months=2, orders_per_month=ORDERS_PER_MONTH, seed=3)


@pytest.fixture
def slow_emulator(tmp_path: Path) -> Iterator[EmulatorServer]:
    with EmulatorServer(tmp_path / "emulator", orders_per_second=ORDERS_PER_SECOND) as server:
        yield server


@pytest.fixture
def cluster(tmp_path: Path, warehouse: Warehouse, slow_emulator: EmulatorServer) -> Iterator[AirflowCluster]:
    # Catchup makes exactly two runs: January and February.
    with example_dags_cluster(
        tmp_path, slow_emulator.conn_json, start=date(2024, 1, 1), end=date(2024, 2, 29), sample_size=10
    ) as airflow:
        yield airflow


def stored_source_ids(server: EmulatorServer) -> set[str]:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as conn:
        return {source_id for (source_id,) in conn.execute("SELECT source_id FROM orders")}


def valid_source_ids(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT source_id FROM orders WHERE source_id NOT IN (SELECT source_id FROM known_bad_orders)"
        )
        return {source_id for (source_id,) in rows}


def test_two_months_backfill_on_a_real_airflow(
    cluster: AirflowCluster, warehouse: Warehouse, slow_emulator: EmulatorServer, tmp_path: Path
) -> None:
    deferred: set[str] = set()
    claimed: set[tuple[str, str]] = set()
    # The emulator starts no import until both sensors were seen deferred in a triggerer. Without
    # the hold, a sensor that starts late (a loaded machine, the scheduler's latency) finds its
    # month's import already done, rightly finishes without deferring, and the test sees nothing.
    slow_emulator.set_faults(hold_imports=True)
    held = True

    def both_runs_finished() -> list[tuple[Any, ...]] | None:
        nonlocal held
        # The sensor deferred, and its trigger claimed by a running triggerer (triggerer_id set).
        for run_id, classpath, triggerer_id in cluster.query(
            "SELECT ti.run_id, t.classpath, t.triggerer_id FROM task_instance ti"
            ' LEFT JOIN "trigger" t ON t.id = ti.trigger_id'
            " WHERE ti.dag_id = ? AND ti.task_id = 'wait_for_import' AND ti.state = 'deferred'",
            DAG_ID,
        ):
            deferred.add(run_id)
            if triggerer_id is not None:
                claimed.add((run_id, classpath))
        if held and len({run_id for run_id, _ in claimed}) == 2:
            slow_emulator.clear_faults()
            held = False
        runs = cluster.query(
            "SELECT run_id, state, run_type, data_interval_start FROM dag_run WHERE dag_id = ?"
            " ORDER BY data_interval_start",
            DAG_ID,
        )
        failed = [run for run in runs if run[1] == "failed"]
        if failed:
            raise AssertionError(f"runs failed: {failed}\n{cluster.logs()}")
        return runs if len(runs) == 2 and all(run[1] == "success" for run in runs) else None

    runs = cluster.wait_for("both monthly runs to succeed", both_runs_finished, timeout=600, interval=0.1)

    assert [(run[2], run[3][:10]) for run in runs] == [
        ("scheduled", "2024-01-01"),
        ("scheduled", "2024-02-01"),
    ]
    run_ids = {run[0] for run in runs}
    assert deferred == run_ids, "the sensor was not seen deferred in every run"
    # Resumed by the triggerer, not retried: one try each, and the triggerer ran the trigger. A
    # second try is allowed only when Airflow's own resume race failed the first (it is not ours;
    # see AIRFLOW_RESUME_RACE): it then only polls again.
    sensor_tries = cluster.query(
        "SELECT state FROM task_instance WHERE dag_id = ? AND task_id = 'wait_for_import'", DAG_ID
    )
    assert sensor_tries == [("success",), ("success",)]
    assert cluster.retries_not_from_the_resume_race(DAG_ID, "wait_for_import") == [], cluster.why_retried(
        "wait_for_import"
    )
    trigger = "airflow_provider_voucherify.triggers.async_action.AsyncActionTrigger"
    assert claimed == {(run_id, trigger) for run_id in run_ids}, cluster.log_tail("triggerer")

    verified = [
        json.loads(value)
        for (value,) in cluster.query(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = 'verify' AND key = 'return_value'"
            " ORDER BY run_id",
            DAG_ID,
        )
    ]
    assert (
        sorted(verified, key=lambda v: v["extracted"])
        == [
            {
                "extracted": ORDERS_PER_MONTH,
                "rejected": 1,
                "imported": ORDERS_PER_MONTH - 1,
                "sampled": 10,
                "matched": 10,
            }
        ]
        * 2
    )
    assert stored_source_ids(slow_emulator) == valid_source_ids(tmp_path / "warehouse.db")
