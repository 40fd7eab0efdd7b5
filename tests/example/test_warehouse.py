"""One extract for the months and the audit: a period's orders staged, and counted, as queried."""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import date, datetime, timezone
from pathlib import Path

from airflow_provider_voucherify.example.periods import parts
from airflow_provider_voucherify.example.warehouse import count_in, stage_orders
from scripts.sample_warehouse import build_sqlite
from tests.example.sqlite_hook import SqliteHook

FEB, MAR = (datetime(2024, month, 1, tzinfo=timezone.utc) for month in (2, 3))
LEFT_OUT = date(2024, 2, 14)


def placed(path: Path, where: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {source_id for (source_id,) in conn.execute(f"SELECT source_id FROM orders WHERE {where}")}


def staged_source_ids(path: Path) -> list[str]:
    with gzip.open(path, "rt") as lines:
        return [json.loads(line)["source_id"] for line in lines]


def test_a_left_out_day_is_missing_from_both_the_file_and_the_count(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.db"
    build_sqlite(warehouse, months=3, orders_per_month=120, seed=5)
    hook = SqliteHook(warehouse)
    february = placed(warehouse, "placed_at >= '2024-02-01' AND placed_at < '2024-03-01'")
    that_day = placed(warehouse, "placed_at >= '2024-02-14' AND placed_at < '2024-02-15'")
    assert that_day, "the sample warehouse has orders on the left-out day"

    whole = stage_orders(hook, parts(FEB, MAR), tmp_path / "whole.jsonl.gz")
    gap = stage_orders(hook, parts(FEB, MAR, LEFT_OUT), tmp_path / "gap.jsonl.gz")

    assert whole == count_in(hook, parts(FEB, MAR)) == len(february)
    assert gap == count_in(hook, parts(FEB, MAR, LEFT_OUT)) == len(february - that_day)
    assert set(staged_source_ids(tmp_path / "gap.jsonl.gz")) == february - that_day
    # The two sides of the gap come one after the other, in order, as the month's single query would.
    assert staged_source_ids(tmp_path / "gap.jsonl.gz") == [
        source_id for source_id in staged_source_ids(tmp_path / "whole.jsonl.gz") if source_id not in that_day
    ]
