"""``dag.test()`` of the backfill DAG on a month whose every order the import rejects: the import
sends nothing and fails the run (with ``on_invalid="skip"`` too), the rejects file listing them all.
A month whose export holds no order is no error (tests/operators/test_reruns.py)."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from scripts.sample_warehouse import Warehouse, build_sqlite
from tests.dags.conftest import RunBackfill, rejected_lines, staged


def test_a_month_whose_orders_were_all_rejected_fails_and_lists_them(
    run_backfill: RunBackfill, emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = tmp_path / "warehouse.db"
    warehouse = build_sqlite(path, months=1, orders_per_month=6, seed=5, start=date(2024, 1, 1))
    with sqlite3.connect(path) as conn:  # every order a refund: a negative total, refused by validation
        conn.execute("UPDATE orders SET total = -abs(total)")
        every = [
            source_id for (source_id,) in conn.execute("SELECT source_id FROM orders ORDER BY source_id")
        ]
    warehouse = Warehouse([warehouse.months[0]])
    warehouse.months[0].bad_source_ids = every

    (result,) = run_backfill(json.dumps({"conn_type": "sqlite", "host": str(path)}), warehouse)

    assert result["state"] == "failed", result
    assert result["verified"] is None
    rejects = rejected_lines(staged(tmp_path, date(2024, 1, 1), "rejects.jsonl"))
    assert sorted(entry["source_id"] for entry in rejects) == every
    assert emulator.stats()["imports_accepted"] == 0
