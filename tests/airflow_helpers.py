"""Shared test helpers: point the default connection at an emulator, run a DAG defined in a test."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer


def point_connection(
    monkeypatch: pytest.MonkeyPatch, server: EmulatorServer, *, password: str | None = None, **extra: Any
) -> None:
    """Make ``voucherify_default`` reach ``server`` (quick retries unless ``extra`` says otherwise)."""
    conn = json.loads(server.conn_json)
    if password is not None:
        conn["password"] = password
    conn["extra"] = {"timeout": 5, "max_retries": 2, "retry_backoff": 0.01, **extra}
    monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", json.dumps(conn))


def register_dag(dag: Any) -> None:
    """Make the metadata DB know a DAG defined in a test: ``dag.test()`` runs only those."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    dagbag = dagbag_module()
    DagBundlesManager().sync_bundles_to_db()
    bag = dagbag.DagBag(dag_folder="/dev/null", collect_dags=False)
    bag.bag_dag(dag)
    dagbag.sync_bag_to_db(bag, "dags-folder", None)


def dagbag_module() -> Any:
    """Airflow's module of ``DagBag`` and ``sync_bag_to_db``, which moved in 3.2."""
    try:
        from airflow.dag_processing import dagbag
    except ImportError:  # Airflow < 3.2
        from airflow.models import dagbag  # type: ignore[no-redef]
    return dagbag


def run_test_dag(dag: Any) -> Any:
    """``dag.test()`` of a DAG defined in a test; returns the DagRun."""
    register_dag(dag)
    return dag.test()


# Airflow's metadata tables change between releases (3.4 moved XComs and rendered fields to
# per-attempt tables, xcom_v2 and rtif_v2, keyed by the task instance's id): tests read them
# through Airflow's own queries and accessors, never by table or column.


def xcoms(dag_run: Any, task_id: str) -> dict[str, Any]:
    """Every XCom ``task_id`` pushed in ``dag_run`` (a DagRun, or a run id): key -> value, read with
    Airflow's own query (``XComModel.get_many``)."""
    from airflow.models import xcom
    from airflow.utils.session import create_session

    model = xcom.XComModel  # Airflow 3.4 makes the model on first use (the module's __getattr__)
    run_id, dag_id = getattr(dag_run, "run_id", dag_run), getattr(dag_run, "dag_id", None)
    with create_session() as session:
        rows = session.scalars(model.get_many(run_id=run_id, task_ids=task_id, dag_ids=dag_id))
        return {row.key: model.deserialize_value(row) for row in rows}


def rendered_fields(dag_run: Any, task_id: str) -> dict[str, Any]:
    """The rendered template fields Airflow stored for ``task_id`` in ``dag_run``."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields

    fields = RenderedTaskInstanceFields.get_templated_fields(dag_run.get_task_instance(task_id))
    assert fields is not None, f"no rendered fields stored for {task_id}"
    return dict(fields)


def task_states(dag_run: Any) -> dict[str, str]:
    """Task id -> state of ``dag_run``'s task instances, read back from the metadata database."""
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


class LogLines(logging.Handler):
    """The messages of a logger of the test's own, in order (where Airflow sends a task's log
    outside a task run, and how it renders it, differs between releases: 3.1 drops INFO there)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        self.logger = logging.getLogger(f"tests.log_lines.{id(self)}")
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
