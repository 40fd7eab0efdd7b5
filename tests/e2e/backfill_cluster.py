"""The example DAGs on a real Airflow (``AirflowCluster``), set up as ``make demo`` sets them up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from scripts.demo import POOL, airflow_env
from tests.e2e.airflow_cluster import AirflowCluster


@contextmanager
def example_dags_cluster(
    tmp_path: Path, voucherify_conn: str, *, start: date, end: date, **options: Any
) -> Iterator[AirflowCluster]:
    """A running cluster whose DAGs read ``tmp_path/warehouse.db`` and stage in ``tmp_path/staging``.

    :param voucherify_conn: the Voucherify connection's JSON (an emulator's ``conn_json``)
    :param start: the backfill's first month; ``end`` its last day (catchup runs every month between)
    :param options: further ``airflow_env`` arguments (``sample_size``, ``leave_out_day``...)
    """
    env = airflow_env(
        tmp_path / "airflow",
        warehouse_conn=json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")}),
        voucherify_conn=voucherify_conn,
        staging=tmp_path / "staging",
        start=start,
        end=end,
        poll_interval=1.0,
        **options,
    )
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
    airflow = AirflowCluster(tmp_path / "airflow", env)
    airflow.migrate()
    airflow.cli("pools", "set", POOL, "1", "Voucherify order imports")
    airflow.start()
    try:
        yield airflow
    finally:
        airflow.stop()
