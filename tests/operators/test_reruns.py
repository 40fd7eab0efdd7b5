"""Re-runs an operator can trust, through ``dag.test()`` against the emulator: clears, retries,
``resume=False``, imports that send nothing, and errors that a retry cannot cure."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, Param, task

from airflow_provider_voucherify import VoucherifyApiError
from airflow_provider_voucherify.airflow_errors import AirflowException
from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.operators._task import AirflowFailException
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor
from tests.airflow_helpers import point_connection, run_test_dag, task_states
from tests.clearing import run_cleared, run_first
from tests.operators.conftest import order_dict, write_jsonl
from tests.operators.test_import_orders import AIRFLOW_3_3, FakeTI, xcoms

EMPTY_SUMMARY = {"actions": [], "done_count": 0, "failed_count": 0, "failed_orders": []}
LOGICAL_DATE = datetime(2024, 2, 1, tzinfo=timezone.utc)
needs_task_state = pytest.mark.skipif(not AIRFLOW_3_3, reason="task_state_store arrived in Airflow 3.3")


@pytest.fixture
def server(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    point_connection(monkeypatch, emulator)
    return emulator


def dag_id(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


def month_dag(name: str, orders: Any, *, resume: bool = True, **import_kwargs: Any) -> DAG:
    """import_orders >> wait_for_import (deferrable), ``resume`` given through a templated param."""
    with DAG(
        name,
        schedule=None,
        start_date=datetime(2024, 1, 1),
        params={"resume": Param(resume, type="boolean")},
    ) as dag:
        imported = ImportOrdersOperator(
            task_id="import_orders", orders=orders, resume="{{ params.resume }}", **import_kwargs
        )
        imported >> AsyncActionSensor(
            task_id="wait_for_import",
            async_action_ids=imported.output,
            deferrable=True,
            poke_interval=0.2,
            timeout=60,
        )
    return dag


def test_a_failed_import_seen_by_a_separate_sensor_is_sent_again_when_the_run_is_cleared(
    airflow_db: Path, server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = dag_id("failed_then_cleared")
    orders = [order_dict(n) for n in range(1, 4)]
    server.set_faults(fail_imports=1)

    first = run_first(month_dag(name, orders), LOGICAL_DATE)

    assert task_states(first) == {"import_orders": "success", "wait_for_import": "failed"}
    assert server.stats()["orders_stored"] == 0
    server.clear_faults()
    cleared = run_cleared(month_dag(name, orders), LOGICAL_DATE, monkeypatch)

    assert cleared.run_id == first.run_id
    assert task_states(cleared) == {"import_orders": "success", "wait_for_import": "success"}
    assert xcoms(cleared, "import_orders")["import_summary"]["sent"] == 3
    stats = server.stats()
    assert stats["orders_stored"] == stats["distinct_source_ids_received"] == 3
    assert stats["imports_accepted"] == 2


@needs_task_state
def test_a_cleared_succeeded_import_skips_its_batches_and_resume_false_sends_them_all_again(
    airflow_db: Path, server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = dag_id("succeeded_then_cleared")
    orders = [order_dict(n) for n in range(1, 7)]
    first = run_first(month_dag(name, orders, batch_size=2), LOGICAL_DATE)
    assert task_states(first) == {"import_orders": "success", "wait_for_import": "success"}
    first_ids = xcoms(first, "import_orders")["return_value"]

    resumed = run_cleared(month_dag(name, orders, batch_size=2), LOGICAL_DATE, monkeypatch)

    summary = xcoms(resumed, "import_orders")["import_summary"]
    assert (summary["sent"], summary["skipped_on_retry"]) == (0, 6)
    assert xcoms(resumed, "import_orders")["return_value"] == first_ids
    assert server.stats()["imports_accepted"] == 3

    again = run_cleared(month_dag(name, orders, resume=False, batch_size=2), LOGICAL_DATE, monkeypatch)

    assert task_states(again) == {"import_orders": "success", "wait_for_import": "success"}
    summary = xcoms(again, "import_orders")["import_summary"]
    assert (summary["sent"], summary["skipped_on_retry"]) == (6, 0)
    new_ids = xcoms(again, "import_orders")["return_value"]
    assert set(new_ids).isdisjoint(first_ids)
    wait_for_actions(server, new_ids)
    stats = server.stats()
    assert stats["imports_accepted"] == 6
    assert stats["orders_stored"] == stats["distinct_source_ids_received"] == 6  # every order once


def test_an_error_a_retry_cannot_cure_fails_the_task_without_retrying(
    airflow_db: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_connection(monkeypatch, emulator, password="not-the-secret-key")
    with DAG(dag_id("bad_credentials"), schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        ImportOrdersOperator(
            task_id="import_orders",
            orders=[order_dict(1)],
            retries=2,
            retry_delay=timedelta(0),
        )

    run = run_test_dag(dag)

    ti = run.get_task_instance("import_orders")
    assert (ti.state, ti.try_number) == ("failed", 1)
    assert emulator.stats()["total_requests"] == 1


def test_a_transient_error_stays_retryable(
    airflow_db: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_connection(monkeypatch, emulator, max_retries=0)
    emulator.set_faults(error_rate=1.0, error_statuses=[503], paths=["/v1/orders/import"])
    caught: list[BaseException] = []

    def heal(context: Any) -> None:
        try:  # what a user's callback writes (the exception is in its context from Airflow 3.3)
            if context.get("exception") is not None:
                raise context["exception"]
        except AirflowException as exc:
            caught.append(exc)
        emulator.clear_faults()

    with DAG(dag_id("transient"), schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        ImportOrdersOperator(
            task_id="import_orders",
            orders=[order_dict(1)],
            retries=1,
            retry_delay=timedelta(0),
            on_retry_callback=heal,
        )

    run = run_test_dag(dag)

    ti = run.get_task_instance("import_orders")
    assert (ti.state, ti.try_number) == ("success", 2)
    if AIRFLOW_3_3:  # the 503 itself: an AirflowException, but not AirflowFailException
        (exc,) = caught
        assert isinstance(exc, VoucherifyApiError)
        assert exc.status_code == 503
        assert not isinstance(exc, AirflowFailException)


# -- nothing to import -------------------------------------------------------------------------


def no_orders(path: Path) -> Path:
    """A file that holds no order (an empty export): nothing to send, and no error. (A file whose
    every order is invalid fails the import instead: tests/operators/test_input_files.py.)"""
    path.write_text("\n")
    return path


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_an_import_that_sent_nothing_lets_the_sensor_succeed_at_once_with_an_empty_summary(
    airflow_db: Path, server: EmulatorServer, tmp_path: Path, mode: str
) -> None:
    kwargs = {"deferrable": True} if mode == "deferrable" else {"mode": mode, "deferrable": False}
    seen: dict[str, Any] = {}
    with DAG(dag_id(f"empty_{mode}"), schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        imported = ImportOrdersOperator(
            task_id="import_orders",
            orders=str(no_orders(tmp_path / "o.jsonl")),
            on_invalid="skip",
            max_invalid=5,
        )
        wait = AsyncActionSensor(
            task_id="wait_for_import",
            async_action_ids=imported.output,
            poke_interval=0.2,
            timeout=30,
            **kwargs,
        )

        @task
        def keep(summary: dict[str, Any]) -> None:
            seen["summary"] = summary

        keep(wait.output)

    run = run_test_dag(dag)

    assert run.state == "success"
    assert seen["summary"] == EMPTY_SUMMARY
    assert server.stats()["total_requests"] == 0


def test_mapped_imports_that_sent_nothing_let_their_mapped_sensors_succeed(
    airflow_db: Path, server: EmulatorServer, tmp_path: Path
) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [order_dict(n) for n in range(1, 4)])
    seen: dict[str, Any] = {}
    with DAG(dag_id("empty_mapped"), schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        imported = ImportOrdersOperator.partial(
            task_id="import_orders", on_invalid="skip", max_invalid=5
        ).expand(orders=[str(no_orders(tmp_path / "bad.jsonl")), str(good)])
        wait = AsyncActionSensor.partial(
            task_id="wait_for_import", poke_interval=0.2, timeout=30, deferrable=True
        ).expand(async_action_ids=imported.output)

        @task
        def keep(summaries: Any) -> None:
            seen["summaries"] = list(summaries)

        keep(wait.output)

    run = run_test_dag(dag)

    assert run.state == "success"
    empty, full = seen["summaries"]
    assert empty == EMPTY_SUMMARY
    assert (full["done_count"], len(full["actions"])) == (3, 1)


def test_the_operators_own_wait_succeeds_at_once_when_nothing_was_sent(
    server: EmulatorServer, tmp_path: Path
) -> None:
    operator = ImportOrdersOperator(
        task_id="import_orders",
        orders=str(no_orders(tmp_path / "o.jsonl")),
        on_invalid="skip",
        max_invalid=5,
        wait_for_completion=True,
        deferrable=True,
    )
    ti = FakeTI()

    assert operator.execute({"ti": ti}) == []  # type: ignore[arg-type]
    assert ti.xcom["import_summary"]["read"] == 0
    assert json.dumps(server.stats()["requests"]) == "{}"
