"""ImportOrdersOperator runs one instance at a time across its DAG's runs unless told otherwise.

Voucherify runs one order import per project at a time: a second import of the same interval (a
run triggered by hand while the scheduled one imports) only races the first. The scheduler enforces
``max_active_tis_per_dag`` with no pool to create; a DAG author widens it explicitly. Before Airflow
3.3 the scheduler does not count a deferred task against that limit (apache/airflow#61700), so there
an import so limited waits for a rate-limit window in the worker instead of deferring.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.operators import _task
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from tests.defer_floor import no_defer_floor  # noqa: F401 - a fixture
from tests.operators.conftest import order_dict
from tests.operators.deferral import drive
from tests.operators.test_import_orders import FakeTI, stored


def test_one_import_at_a_time_by_default() -> None:
    assert ImportOrdersOperator(task_id="import_orders", orders=[]).max_active_tis_per_dag == 1


@pytest.mark.parametrize("widened", [None, 3])
def test_an_explicit_limit_widens_it(widened: int | None) -> None:
    operator = ImportOrdersOperator(task_id="import_orders", orders=[], max_active_tis_per_dag=widened)
    assert operator.max_active_tis_per_dag == widened


@pytest.mark.parametrize("where", ["dag", "task"])
def test_default_args_widen_it(where: str) -> None:
    default_args: dict[str, Any] = {"max_active_tis_per_dag": 4}
    with DAG(
        "voucherify_widened",
        schedule=None,
        start_date=datetime(2024, 1, 1),
        default_args=default_args if where == "dag" else {},
    ) as dag:
        ImportOrdersOperator(
            task_id="import_orders", orders=[], default_args=default_args if where == "task" else None
        )
    assert dag.get_task("import_orders").max_active_tis_per_dag == 4


def test_the_limit_reaches_the_scheduler() -> None:
    # The scheduler reads the serialized DAG: the default must survive serialization.
    try:
        from airflow.serialization.serialized_objects import DagSerialization
    except ImportError:  # Airflow < 3.2
        from airflow.serialization.serialized_objects import (  # type: ignore[attr-defined,no-redef]
            SerializedDAG as DagSerialization,
        )

    with DAG("voucherify_serialized", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        ImportOrdersOperator(task_id="import_orders", orders=[])
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert restored.get_task("import_orders").max_active_tis_per_dag == 1


def test_the_rule_knows_what_the_airflow_releases_do() -> None:
    # 3.3 counts deferred task instances against the limit (apache/airflow#61769); 3.1 does not.
    released = tuple(int(part) for part in _task.AIRFLOW_VERSION.split(".")[:2])
    if released >= (3, 3):
        assert _task.deferred_count_against_limits()
    if released < (3, 2):
        assert not _task.deferred_count_against_limits()
        assert "does not count against max_active_tis_per_dag=1" in str(_task.worker_waits_why(1))
    assert _task.worker_waits_why(None) is None


@pytest.mark.usefixtures("no_defer_floor")  # deferrals driven in-process
@pytest.mark.parametrize(
    ("counted", "limit", "defers"),
    [(True, 1, True), (False, 1, False), (False, None, True)],
    ids=["deferred counted (3.3)", "deferred not counted (3.1, 3.2)", "no limit"],
)
def test_a_limited_import_defers_only_where_a_deferred_one_still_holds_the_limit(
    server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    counted: bool,
    limit: int | None,
    defers: bool,
) -> None:
    monkeypatch.setattr(_task, "deferred_count_against_limits", lambda: counted)  # as that Airflow does
    server.set_faults(bulk_calls_per_hour=3, retry_after_seconds=2)
    orders = [order_dict(n) for n in range(20)]  # 4 batches, the 4th refused for 2 s
    operator = ImportOrdersOperator(
        task_id="i", orders=orders, batch_size=5, deferrable=True, max_active_tis_per_dag=limit
    )

    run = drive(operator, {"ti": FakeTI()})

    assert bool(run.deferrals) is defers
    assert stored(server, run.result)["orders_stored"] == 20
    said = "a deferred task does not count against max_active_tis_per_dag=1"
    assert (said in "".join(capfd.readouterr())) is not defers
