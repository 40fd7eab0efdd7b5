"""Shared test helpers: point the default connection at an emulator, run a DAG defined in a test."""

from __future__ import annotations

import json
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

    try:
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import DagBag, sync_bag_to_db  # type: ignore[no-redef]

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder="/dev/null", collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def run_test_dag(dag: Any) -> Any:
    """``dag.test()`` of a DAG defined in a test; returns the DagRun."""
    register_dag(dag)
    return dag.test()


def returned_value(dag_run: Any, task_id: str) -> Any:
    """What ``task_id`` returned (its XCom ``return_value``) in ``dag_run``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(run_id=dag_run.run_id, task_id=task_id, key="return_value")
            .one()
        )
        return XComModel.deserialize_value(row)
