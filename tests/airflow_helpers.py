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
