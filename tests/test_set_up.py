"""The suite's own set-up for Airflow task runs (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path


def test_dag_test_builds_the_in_process_execution_api_once_per_process(airflow_db: Path) -> None:
    # Airflow 3.1 and 3.2 would build a new one (3-4 CPU-s) for every task dag.test() runs.
    from airflow.sdk.execution_time import supervisor

    assert supervisor.in_process_api_server() is supervisor.in_process_api_server()
