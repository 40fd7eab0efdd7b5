"""ImportOrdersOperator runs one instance at a time across its DAG's runs unless told otherwise.

Voucherify runs one order import per project at a time: a second import of the same interval (a
run triggered by hand while the scheduled one imports) only races the first. The scheduler enforces
``max_active_tis_per_dag`` with no pool to create; a DAG author widens it explicitly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator


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
