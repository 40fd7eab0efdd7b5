"""ReconcileOrdersOperator after a dry run: the import sent nothing, so there is nothing to read back."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.operators.reconcile_orders import ReconcileOrdersOperator
from tests.airflow_helpers import point_connection, run_test_dag
from tests.operators.test_reconcile_orders import many_orders, reconcile

try:
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowSkipException


@pytest.fixture
def server(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    point_connection(monkeypatch, emulator)
    return emulator


def test_a_dry_run_import_is_skipped_reading_nothing(
    airflow_db: Path, server: EmulatorServer, tmp_path: Path
) -> None:
    path = many_orders(tmp_path, 30)
    with DAG(
        "voucherify_reconcile_dry_run_test", schedule=None, start_date=datetime(2024, 1, 1), catchup=False
    ) as dag:
        import_orders = ImportOrdersOperator(task_id="import_orders", orders=str(path), dry_run=True)
        ReconcileOrdersOperator.of_import(import_orders, task_id="reconcile", sample_size=10)

    dag_run = run_test_dag(dag)

    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"import_orders": "success", "reconcile": "skipped"}
    requests = server.stats()["requests"]
    assert "GET /v1/orders/{id}" not in requests
    assert "GET /v1/async-actions/{id}" not in requests
    assert "POST /v1/orders/import" not in requests


@pytest.mark.parametrize("summary", [{"dry_run": True, "valid": 3, "batches": 1}, '{"dry_run": true}'])
def test_a_dry_run_summary_skips_before_any_call(summary: Any, tmp_path: Path) -> None:
    # No connection at all: a call would fail, not skip.
    with pytest.raises(AirflowSkipException, match="dry run: it sent nothing"):
        reconcile(many_orders(tmp_path, 3), [], import_summary=summary, voucherify_conn_id="none")
