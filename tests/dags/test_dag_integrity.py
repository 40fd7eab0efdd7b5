"""Every example DAG imports cleanly and touches neither the network nor a database while parsed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.example.periods import BACKFILL_DONE
from tests.airflow_helpers import dagbag_module

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(path for path in DAGS.glob("*.py") if not path.name.startswith("_"))
IMPORTING_DAG_FILES = [DAGS / "voucherify_import_file.py", DAGS / "voucherify_orders_backfill.py"]

# Run in a fresh interpreter: Airflow and the provider are imported first (their own start-up may
# open the metadata DB), then an audit hook turns any connection into an error while the DAG
# file itself is executed.
PARSE_WITHOUT_IO = """
import importlib.util, json, sys
import airflow.sdk
import airflow_provider_voucherify.operators.import_orders
import airflow_provider_voucherify.sensors.async_action

FORBIDDEN = {"socket.connect", "socket.getaddrinfo", "sqlite3.connect", "subprocess.Popen", "urllib.Request"}
def guard(event, args):
    if event in FORBIDDEN:
        raise RuntimeError(f"{event} while parsing the DAG file")
sys.addaudithook(guard)

spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted(name for name, value in vars(module).items() if not name.startswith("__"))))
"""


def test_the_dags_folder_holds_the_three_examples() -> None:
    assert [path.name for path in DAG_FILES] == [
        "voucherify_import_file.py",
        "voucherify_orders_audit.py",
        "voucherify_orders_backfill.py",
    ]


def test_every_dag_file_imports_with_no_errors(airflow_db: Path) -> None:
    DagBag = dagbag_module().DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) >= {
        "voucherify_orders_backfill",
        "voucherify_import_file",
        "voucherify_orders_audit",
    }


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda path: path.name)
def test_parsing_opens_no_connection(dag_file: Path) -> None:
    result = _parse(dag_file)
    assert result.returncode == 0, result.stderr[-3000:]
    json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "top_level_io",
    [
        "import socket; socket.create_connection(('127.0.0.1', 9), timeout=1)",
        "import sqlite3; sqlite3.connect(':memory:')",
    ],
    ids=["network", "database"],
)
def test_the_parse_guard_catches_io_at_parse_time(tmp_path: Path, top_level_io: str) -> None:
    bad = tmp_path / "bad_dag.py"
    bad.write_text(top_level_io + "\n")
    result = _parse(bad)
    assert result.returncode != 0
    assert "while parsing the DAG file" in result.stderr


def _parse(dag_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PARSE_WITHOUT_IO, str(dag_file)], capture_output=True, text=True, check=False
    )


def test_the_backfill_runs_monthly_with_catchup_and_one_import_at_a_time(airflow_db: Path) -> None:
    DagBag = dagbag_module().DagBag

    dag = DagBag(dag_folder=str(DAGS / "voucherify_orders_backfill.py")).get_dag("voucherify_orders_backfill")
    assert dag.catchup is True
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert set(dag.params.keys()) == {
        "warehouse_conn_id",
        "staging_base",
        "verify_sample_size",
        "voucherify_conn_id",
        "dry_run",
        "customer_details",
    }
    assert_one_import_at_a_time_without_a_pool(dag)
    assert dag.get_task("wait_for_import").deferrable is True
    assert dag.get_task("reconcile").compare_customers is True  # make demo shows customers compared
    assert [t.task_id for t in dag.topological_sort()] == [
        "extract_transform",
        "import_orders",
        "sent_anything",
        "wait_for_import",
        "reconcile",
        "verify",
        "hand_over_to_audit",
    ]
    # The last month's run starts the audit: the asset the audit DAG is scheduled on.
    assert [outlet.name for outlet in dag.get_task("hand_over_to_audit").outlets] == [BACKFILL_DONE]


def test_the_audit_runs_after_the_backfill_and_compares_every_order_by_export(airflow_db: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS / "voucherify_orders_audit.py")).get_dag("voucherify_orders_audit")
    assert [asset.name for asset in dag.timetable.asset_condition.objects] == [BACKFILL_DONE]
    assert [t.task_id for t in dag.topological_sort()] == ["backfill_finished", "extract_period", "audit"]
    audit = dag.get_task("audit")
    assert (audit.method, audit.async_action_ids, audit.deferrable) == ("export", None, True)
    assert "missing_orders_path" in audit.template_fields
    # Waits for the other months rescheduled, never sooner than Airflow can safely resume a task.
    wait = dag.get_task("backfill_finished")
    assert (wait.mode, wait.poke_interval >= 60) == ("reschedule", True)


def test_the_one_off_dag_asks_for_a_file_and_waits_deferred(airflow_db: Path) -> None:
    DagBag = dagbag_module().DagBag

    dag = DagBag(dag_folder=str(DAGS / "voucherify_import_file.py")).get_dag("voucherify_import_file")
    assert type(dag.timetable).__name__ == "NullTimetable"
    assert set(dag.params.keys()) == {"orders_path", "voucherify_conn_id"}
    assert_one_import_at_a_time_without_a_pool(dag)
    assert dag.get_task("wait_for_import").deferrable is True


def assert_one_import_at_a_time_without_a_pool(dag: Any) -> None:
    """No pool to create first (a missing pool leaves the task scheduled forever, silently)."""
    task = dag.get_task("import_orders")
    assert task.pool == "default_pool"
    assert task.max_active_tis_per_dag == 1
    assert dag.params["voucherify_conn_id"] == "voucherify_default"
    assert {task.voucherify_conn_id, dag.get_task("wait_for_import").voucherify_conn_id} == {
        "{{ params.voucherify_conn_id }}"
    }


@pytest.mark.parametrize("dag_file", IMPORTING_DAG_FILES, ids=lambda path: path.name)
def test_a_pool_named_in_the_environment_is_used(
    airflow_db: Path, dag_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    DagBag = dagbag_module().DagBag

    monkeypatch.setenv("VOUCHERIFY_IMPORT_POOL", "voucherify_imports")
    bag = DagBag(dag_folder=str(dag_file))
    (dag,) = bag.dags.values()
    assert dag.get_task("import_orders").pool == "voucherify_imports"
