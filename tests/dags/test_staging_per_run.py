"""Two runs of the same month stage their files apart: a month triggered by hand while its scheduled
run is importing writes beside that run's file, never over the file being read."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import pytest

from scripts.sample_warehouse import build_sqlite

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "voucherify_orders_backfill.py"
JANUARY = (datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 2, 1, tzinfo=timezone.utc))
SCHEDULED, MANUAL = "scheduled__2024-02-01T00:00:00+00:00", "manual__2024-02-03T10:15:00.123456+00:00"


def test_two_runs_of_one_month_stage_in_folders_of_their_own(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    build_sqlite(tmp_path / "warehouse.db", months=1, orders_per_month=6, seed=3)
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")})
    )
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    extract_transform = bag.get_dag("voucherify_orders_backfill").get_task("extract_transform")
    params = {
        "warehouse_conn_id": "warehouse",
        "staging_base": (tmp_path / "staging").as_uri(),
        "customer_details": "full",
    }

    def stage(run_id: str) -> Path:
        staged = extract_transform.python_callable(  # type: ignore[attr-defined]
            params=params, data_interval_start=JANUARY[0], data_interval_end=JANUARY[1], run_id=run_id
        )
        return Path(urlparse(staged["orders"]).path)

    scheduled = stage(SCHEDULED)
    being_imported = scheduled.open("rb")  # the scheduled run's import reads it meanwhile
    manual = stage(MANUAL)

    assert scheduled != manual
    month = tmp_path / "staging" / "voucherify_orders_backfill" / "2024-01"
    assert scheduled.parent.parent == manual.parent.parent == month
    assert {scheduled.parent.name, manual.parent.name} == {
        "scheduled__2024-02-01T00_00_00_00_00",
        "manual__2024-02-03T10_15_00.123456_00_00",
    }
    with being_imported:  # still whole: nothing was written over it
        assert gzip.decompress(being_imported.read()) == gzip.decompress(manual.read_bytes())
