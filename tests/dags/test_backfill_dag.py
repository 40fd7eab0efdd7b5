"""``dag.test()`` of the backfill DAG: a SQLite warehouse in, the emulator out, verify's figures checked."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from scripts.sample_warehouse import Warehouse, build_sqlite
from tests.dags.conftest import RunBackfill, assert_months_verified, rejected_lines, staged


@pytest.fixture
def sqlite_warehouse(tmp_path: Path) -> tuple[str, Warehouse, Path]:
    path = tmp_path / "warehouse.db"
    warehouse = build_sqlite(path, months=2, orders_per_month=40, seed=11, start=date(2024, 1, 1))
    return json.dumps({"conn_type": "sqlite", "host": str(path)}), warehouse, path


def good_source_ids(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT source_id FROM orders WHERE source_id NOT IN (SELECT source_id FROM known_bad_orders)"
        )
        return {source_id for (source_id,) in rows}


def test_backfill_imports_every_valid_order_and_verifies_a_sample(
    run_backfill: RunBackfill,
    sqlite_warehouse: tuple[str, Warehouse, Path],
    emulator: EmulatorServer,
    tmp_path: Path,
) -> None:
    conn, warehouse, path = sqlite_warehouse

    results = run_backfill(conn, warehouse)

    assert_months_verified(results, warehouse)
    with emulator.client() as client:
        for source_id in sorted(good_source_ids(path))[:5]:
            order = client.get(f"/v1/orders/{source_id}").json()
            assert order["metadata"]["original_created_at"].startswith("2024-0")
    assert emulator.stats()["orders_stored"] == warehouse.orders - warehouse.bad_orders
    for month in warehouse.months:
        rejects = rejected_lines(staged(tmp_path, month.start, "rejects.jsonl"))
        assert [entry["source_id"] for entry in rejects] == month.bad_source_ids


def test_running_a_month_again_updates_instead_of_duplicating(
    run_backfill: RunBackfill, sqlite_warehouse: tuple[str, Warehouse, Path], emulator: EmulatorServer
) -> None:
    conn, warehouse, _ = sqlite_warehouse
    january = Warehouse(warehouse.months[:1])

    first, again = run_backfill(conn, january), run_backfill(conn, january)

    assert_months_verified(first, january)
    assert_months_verified(again, january)
    assert emulator.stats()["orders_stored"] == january.orders - january.bad_orders
