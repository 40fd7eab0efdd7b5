"""The warehouse side of verification: the interval's count against what the import accounts for."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from airflow_provider_voucherify.example.verify import VerificationError, check_counts, count_orders
from tests.example.sqlite_hook import SqliteHook

RECONCILED = {"sent": 9, "done": 8, "failed": 1, "invalid": 2, "sampled": 5, "matched": 5, "mismatches": 0}


def test_extracted_equals_imported_plus_rejected_plus_refused() -> None:
    assert check_counts(11, RECONCILED) == {
        "extracted": 11,
        "rejected": 2,
        "imported": 8,
        "sampled": 5,
        "matched": 5,
    }


@pytest.mark.parametrize("extracted", [10, 12])
def test_counts_that_do_not_add_up_fail(extracted: int) -> None:
    with pytest.raises(VerificationError, match=rf"has {extracted} orders .* accounts for 11: 8 imported"):
        check_counts(extracted, RECONCILED)


def test_a_month_whose_orders_were_all_rejected_adds_up() -> None:
    nothing_sent = {"done": 0, "failed": 0, "invalid": 4, "sampled": 0, "matched": 0}

    assert check_counts(4, nothing_sent)["rejected"] == 4


def test_count_orders_reads_the_single_number(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (placed_at TEXT)")
        conn.executemany("INSERT INTO orders VALUES (?)", [("2024-01-02",), ("2024-01-20",), ("2024-02-01",)])

    sql = "SELECT COUNT(*) AS n FROM orders WHERE placed_at >= {placeholder} AND placed_at < {placeholder}"
    assert count_orders(SqliteHook(path), sql, ("2024-01-01", "2024-02-01")) == 2
