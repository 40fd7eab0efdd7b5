"""One try of an import task in its own process, for the worker-kill case of the fault matrix.

``python -m tests.faults.worker_task first DAG_ID ORDERS_PATH`` runs a one-task DAG with
``dag.test()``: its first try. ``... retry DAG_ID ORDERS_PATH`` then does what the scheduler does
once it finds that try's worker dead (Airflow's heartbeat timeout): it schedules the next try of
the same task instance, in the same DAG run, and runs it the way ``dag.test()`` runs tasks. The
retry therefore sees the task state store the first try wrote (``dag.test()`` itself would not
do: it replaces the DAG run, and the store goes with it). The last line printed is
``RESULT {json}`` with the task's state, try number and XComs. The connection comes from the
environment.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG

from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from tests.airflow_helpers import register_dag
from tests.faults.matrix import BATCH_SIZE


def build(dag_id: str, orders: str) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)) as dag:
        ImportOrdersOperator(task_id="import_orders", orders=orders, batch_size=BATCH_SIZE, retries=1)
    return dag


def retry(dag: DAG) -> Any:
    """Schedule and run the next try of the task whose worker died; returns the task instance."""
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    def task_instance(session: Any) -> Any:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == dag.dag_id)).one()
        return run.get_task_instance("import_orders", session=session)

    session = settings.Session()
    ti = task_instance(session)
    ti.state = TaskInstanceState.SCHEDULED
    ti.try_number += 1
    session.commit()
    _run_task(ti=ti, task=dag.task_dict["import_orders"])
    session.close()
    return task_instance(settings.Session())


def main(mode: str, dag_id: str, orders: str) -> None:
    dag = build(dag_id, orders)
    if mode == "first":
        register_dag(dag)
        ti = dag.test().get_task_instance("import_orders")
    else:
        ti = retry(dag)
    result: dict[str, Any] = {
        "state": str(ti.state),
        "try_number": ti.try_number,
        "return_value": ti.xcom_pull(task_ids="import_orders"),
        "import_summary": ti.xcom_pull(task_ids="import_orders", key="import_summary"),
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
