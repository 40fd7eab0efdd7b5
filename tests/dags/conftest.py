"""Running the example backfill DAG with ``dag.test()`` against the emulator and a warehouse."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from scripts.demo import POOL, next_month, run_months
from scripts.sample_warehouse import Warehouse
from tests.postgres_server import postgres_server  # noqa: F401 - the fixture, for this folder

RunBackfill = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def run_backfill(
    airflow_db: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> RunBackfill:
    """``run(warehouse_conn, warehouse, conf=None)``: the DAG once per month of ``warehouse`` (with
    params ``conf``), verify figures back."""
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(POOL, slots=1, description="Voucherify order imports", include_deferred=False)

    def run(
        warehouse_conn: str, warehouse: Warehouse, conf: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        months: list[date] = [month.start for month in warehouse.months]
        for name, value in {
            "AIRFLOW_CONN_WAREHOUSE": warehouse_conn,
            "AIRFLOW_CONN_VOUCHERIFY_DEFAULT": emulator.conn_json,
            "VOUCHERIFY_WAREHOUSE_CONN_ID": "warehouse",
            "VOUCHERIFY_STAGING_BASE": (tmp_path / "staging").as_uri(),
            "VOUCHERIFY_BACKFILL_START": months[0].isoformat(),
            "VOUCHERIFY_BACKFILL_END": next_month(months[-1]).isoformat(),
            "VOUCHERIFY_POLL_INTERVAL": "0.2",
            "VOUCHERIFY_VERIFY_SAMPLE_SIZE": "15",
        }.items():
            monkeypatch.setenv(name, value)
        return run_months(months, conf)

    return run


def staged(tmp_path: Path, month: date, name: str) -> Path:
    """The file ``name`` staged for ``month``, in the folder of the one run that wrote it."""
    (path,) = (tmp_path / "staging" / "voucherify_orders_backfill" / f"{month:%Y-%m}").glob(f"*/{name}")
    return path


def rejected_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def assert_months_verified(
    results: list[dict[str, Any]], warehouse: Warehouse, sample_size: int = 15
) -> None:
    """Every month succeeded and its verify step saw exactly the warehouse's figures."""
    assert [r["month"] for r in results] == [f"{m.start:%Y-%m}" for m in warehouse.months]
    for result, month in zip(results, warehouse.months, strict=True):
        assert result["state"] == "success", result
        assert result["verified"] == {
            "extracted": month.orders,
            "rejected": len(month.bad_source_ids),
            "imported": month.good,
            "sampled": min(sample_size, month.good),
            "matched": min(sample_size, month.good),
        }
