"""Rows to orders: cents, dates, parties, items, grouping, and the JSON Lines .gz file."""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from airflow_provider_voucherify.example.transform import (
    iso_utc,
    orders_from_rows,
    to_cents,
    write_jsonl_gz,
)
from airflow_provider_voucherify.models import parse_order


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        (Decimal("19.99"), 1999),
        (19.99, 1999),
        (0.1 + 0.2, 30),
        ("54.90", 5490),
        (3, 300),
        (None, None),
        (Decimal("1.005"), 101),
        (-12.5, -1250),
    ],
)
def test_amounts_become_exact_cents(value: object, cents: int | None) -> None:
    assert to_cents(value) == cents  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("2024-01-03 10:00:00", "2024-01-03T10:00:00+00:00"),
        (datetime(2024, 1, 3, 10), "2024-01-03T10:00:00+00:00"),
        (datetime(2024, 1, 3, 12, tzinfo=timezone(timedelta(hours=2))), "2024-01-03T12:00:00+02:00"),
        ("2024-01-03T10:00:00Z", "2024-01-03T10:00:00+00:00"),
        (date(2024, 1, 3), "2024-01-03T00:00:00+00:00"),
    ],
)
def test_dates_become_iso_8601_with_an_offset(value: object, iso: str) -> None:
    assert iso_utc(value) == iso  # type: ignore[arg-type]


def line(order: str, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "order_source_id": order,
        "order_status": "PAID",
        "order_amount": Decimal("74.89"),
        "order_created_at": "2024-01-01 04:13:14",
        "customer_source_id": "CUST-1",
        "customer_name": "Ada Novak",
        "customer_email": "ada@example.com",
        "customer_city": "Oslo",
        "customer_country": "NO",
        "referrer_source_id": None,
        "product_source_id": "PROD-1",
        "product_name": "Water bottle",
        "product_price": Decimal("19.99"),
        "sku_source_id": "SKU-1",
        "sku_code": "500ML",
        "sku_price": Decimal("19.99"),
        "quantity": 1,
        "unit_price": Decimal("19.99"),
    }
    return {**base, **fields}


def test_consecutive_lines_make_one_valid_order_with_overriding_products_and_skus() -> None:
    rows = [line("A"), line("A", quantity=2, sku_source_id="SKU-2"), line("B", referrer_source_id="CUST-2")]

    orders = list(orders_from_rows(rows))

    assert [order["source_id"] for order in orders] == ["A", "B"]
    first = orders[0]
    assert first["amount"] == 7489
    assert first["created_at"] == "2024-01-01T04:13:14+00:00"
    assert first["customer"] == {
        "source_id": "CUST-1",
        "name": "Ada Novak",
        "email": "ada@example.com",
        "address": {"city": "Oslo", "country": "NO"},
    }
    assert "referrer" not in first
    assert orders[1]["referrer"] == {"source_id": "CUST-2"}
    assert first["items"][1] == {
        "quantity": 2,
        "price": 1999,
        "amount": 3998,
        "related_object": "sku",
        "product": {"source_id": "PROD-1", "name": "Water bottle", "price": 1999, "override": True},
        "sku": {"source_id": "SKU-2", "sku": "500ML", "price": 1999, "override": True},
    }
    for order in orders:
        parse_order(order, require_source_id=True)


def test_orders_are_written_as_gzip_json_lines(tmp_path: Path) -> None:
    target = tmp_path / "month" / "orders.jsonl.gz"

    count = write_jsonl_gz(orders_from_rows([line("A"), line("B")]), target)

    assert count == 2
    with gzip.open(target, "rt", encoding="utf-8") as lines:
        assert [json.loads(text)["source_id"] for text in lines] == ["A", "B"]
