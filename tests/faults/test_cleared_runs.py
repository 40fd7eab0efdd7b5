"""Fault matrix, runs cleared by an operator, through ``dag.test()``: a FAILED import seen by a
separate sensor, and a connection that pointed at the wrong project. After the clear, every order
is in the right project once."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor
from tests.airflow_helpers import point_connection
from tests.airflow_helpers import task_states as states
from tests.clearing import run_cleared, run_first
from tests.faults.matrix import ALL_SOURCE_IDS, BATCH_SIZE, BATCHES, Case
from tests.operators.test_import_orders import AIRFLOW_3_3
from tests.operators.test_reruns import dag_id

LOGICAL_DATE = datetime(2024, 3, 1, tzinfo=timezone.utc)


def month(name: str, orders: Path) -> DAG:
    """import_orders >> wait_for_import (deferrable): the example DAG's pattern."""
    with DAG(name, schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        imported = ImportOrdersOperator(task_id="import_orders", orders=str(orders), batch_size=BATCH_SIZE)
        imported >> AsyncActionSensor(
            task_id="wait_for_import",
            async_action_ids=imported.output,
            deferrable=True,
            poke_interval=0.2,
            timeout=120,
        )
    return dag


def test_a_failed_import_seen_by_a_separate_sensor_is_imported_once_the_run_is_cleared(
    airflow_db: Any, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, orders_path: Path
) -> None:
    case = Case("FAILED import, separate sensor, run cleared")
    point_connection(monkeypatch, emulator)
    name = dag_id("matrix_failed_cleared")
    emulator.set_faults(fail_imports=1)  # batch 1's import ends FAILED

    first = run_first(month(name, orders_path), LOGICAL_DATE)

    assert states(first) == {"import_orders": "success", "wait_for_import": "failed"}
    emulator.clear_faults()
    cleared = run_cleared(month(name, orders_path), LOGICAL_DATE, monkeypatch)

    assert states(cleared) == {"import_orders": "success", "wait_for_import": "success"}
    case.outcome = "sensor failed; after the clear, success"
    if AIRFLOW_3_3:
        case.note = "only the FAILED batch sent again (ledger checked: 1 list call)"
        state = case.record(emulator, ALL_SOURCE_IDS, repeated_payloads=True)
        assert state.stats["imports_accepted"] == BATCHES + 1
    else:
        case.note = "no task state store: every batch sent again (upserts)"
        case.record(emulator, ALL_SOURCE_IDS, repeated_payloads=True)


def test_a_corrected_connection_sends_every_batch_to_the_right_project_once_the_run_is_cleared(
    airflow_db: Any,
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    orders_path: Path,
    tmp_path: Path,
) -> None:
    case = Case("connection corrected, run cleared")
    name = dag_id("matrix_connection_cleared")
    with EmulatorServer(tmp_path / "wrong-project", app_id="app_wrong_project") as wrong:
        point_connection(monkeypatch, wrong)  # the connection points at the wrong project
        first = run_first(month(name, orders_path), LOGICAL_DATE)
        assert states(first) == {"import_orders": "success", "wait_for_import": "success"}
        assert wrong.stats()["orders_stored"] == len(ALL_SOURCE_IDS)

        point_connection(monkeypatch, emulator)  # corrected
        cleared = run_cleared(month(name, orders_path), LOGICAL_DATE, monkeypatch)

        assert states(cleared) == {"import_orders": "success", "wait_for_import": "success"}
        assert wrong.stats()["imports_accepted"] == BATCHES  # nothing more went there
    case.outcome = "success in the wrong project; after the clear, success"
    case.note = "every batch sent to the corrected project, none skipped"
    case.record(emulator, ALL_SOURCE_IDS)
