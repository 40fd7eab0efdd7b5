"""The backfill DAG's ``dry_run`` param on the demo's three months: nothing sent, the same rejects as
a real run, and a report whose batch count is what the real run then sends."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from scripts.sample_warehouse import Warehouse, build_sqlite
from tests.airflow_helpers import xcoms
from tests.dags.conftest import RunBackfill, assert_months_verified, staged


def import_summary(run_id: str) -> dict[str, Any]:
    return dict(xcoms(run_id, "import_orders")["import_summary"])


def test_dry_run_sends_nothing_and_predicts_the_real_run(
    run_backfill: RunBackfill, emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo's three months (its default seed), smaller, and batches of 40 so a month takes several.
    path = tmp_path / "warehouse.db"
    warehouse: Warehouse = build_sqlite(path, months=3, orders_per_month=90)
    conn = json.dumps({"conn_type": "sqlite", "host": str(path)})
    monkeypatch.setenv("VOUCHERIFY_BATCH_SIZE", "40")

    dry = run_backfill(conn, warehouse, {"dry_run": True})

    assert [result["state"] for result in dry] == ["success"] * 3
    assert [result["verified"] for result in dry] == [None] * 3  # verify is skipped
    stats = emulator.stats()
    assert stats["imports_accepted"] == 0
    assert "POST /v1/orders/import" not in stats["requests"]
    reports = [import_summary(result["run_id"]) for result in dry]
    dry_rejects = {}
    for month in warehouse.months:
        rejects = staged(tmp_path, month.start, "rejects.jsonl")
        dry_rejects[month.start] = rejects.read_text()
        shutil.move(rejects, rejects.with_suffix(".dry"))

    real = run_backfill(conn, warehouse)

    assert_months_verified(real, warehouse)
    for month, report, result in zip(warehouse.months, reports, real, strict=True):
        sent = import_summary(result["run_id"])
        assert report["dry_run"] is True
        assert report["batches"] == report["bulk_calls"] == sent["batches"] > 1
        assert (report["valid"], report["invalid"]) == (sent["valid"], sent["invalid"])
        assert staged(tmp_path, month.start, "rejects.jsonl").read_text() == dry_rejects[month.start]
    assert emulator.stats()["imports_accepted"] == sum(report["batches"] for report in reports)
