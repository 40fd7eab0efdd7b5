"""``voucherify_conn_id`` is templated on the operators and the sensor, and a deferred wait gets the
rendered id: the connection here exists only under its rendered name."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, Param

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.operators.reconcile_orders import ReconcileOrdersOperator
from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor
from tests.airflow_helpers import run_test_dag
from tests.operators.conftest import order_dict, write_jsonl

CONN_ID = "voucherify_rendered"


@pytest.fixture
def rendered_conn(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """The emulator as ``voucherify_rendered`` only: the default connection does not exist."""
    conn = json.loads(emulator.conn_json)
    conn["extra"] = {"max_retries": 2, "retry_backoff": 0.01, "timeout": 10}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    monkeypatch.delenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", raising=False)
    return emulator


def test_the_json_fields_render_as_json() -> None:
    assert ImportOrdersOperator.template_fields_renderers == {"orders": "json"}
    assert AsyncActionSensor.template_fields_renderers == {"async_action_ids": "json"}
    assert ReconcileOrdersOperator.template_fields_renderers == {
        "orders": "json",
        "async_action_ids": "json",
        "import_summary": "json",
    }


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferred"])
def test_the_operator_and_the_sensor_use_the_rendered_connection(
    airflow_db: Path, rendered_conn: EmulatorServer, tmp_path: Path, deferrable: bool
) -> None:
    orders = write_jsonl(tmp_path / "orders.jsonl", [order_dict(n) for n in range(1, 4)])
    with DAG(
        f"test_templated_conn_{uuid.uuid4().hex[:8]}",
        schedule=None,
        start_date=datetime(2024, 1, 1),
        params={"voucherify_conn_id": Param(CONN_ID, type="string")},
    ) as dag:
        imported = ImportOrdersOperator(
            task_id="import",
            orders=str(orders),
            voucherify_conn_id="{{ params.voucherify_conn_id }}",
            wait_for_completion=True,
            deferrable=deferrable,
            poll_interval=0.2,
            timeout=60,
        )
        AsyncActionSensor(
            task_id="wait",
            async_action_ids=imported.output,
            voucherify_conn_id="{{ params.voucherify_conn_id }}",
            deferrable=deferrable,
            poke_interval=0.2,
            timeout=60,
        ) >> ReconcileOrdersOperator(
            task_id="reconcile",
            orders=str(orders),
            async_action_ids=imported.output,
            voucherify_conn_id="{{ params.voucherify_conn_id }}",
            sample_size=3,
        )

    run = run_test_dag(dag)

    states: dict[str, Any] = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"import": "success", "wait": "success", "reconcile": "success"}
    assert run.get_task_instance("reconcile").xcom_pull(task_ids="reconcile")["matched"] == 3
    summary = run.get_task_instance("wait").xcom_pull(task_ids="wait")
    assert summary["done_count"] == 3
    assert rendered_conn.stats()["orders_stored"] == 3
