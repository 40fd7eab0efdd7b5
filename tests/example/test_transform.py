"""Rows to orders: cents, dates, parties, items, grouping, and the JSON Lines .gz file."""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from airflow_provider_voucherify.example.transform import (
    as_text,
    iso_utc,
    orders_from_rows,
    to_cents,
    to_quantity,
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
        ("2024-01-15 10:00:00+00", "2024-01-15T10:00:00+00:00"),  # PostgreSQL timestamptz text
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
        "source_id": "SKU-2",
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


def test_a_non_iso_date_is_refused_saying_iso_8601_is_expected() -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        iso_utc("01/05/2023")


@pytest.mark.parametrize(
    ("value", "quantity"),
    [(Decimal("2"), 2), (Decimal("2.000"), 2), (3.0, 3), (4, 4), (None, None), (Decimal("1.5"), 1.5)],
)
def test_quantities_from_numeric_columns_become_integers(value: object, quantity: object) -> None:
    result = to_quantity(value)  # type: ignore[arg-type]
    assert result == quantity
    assert type(result) is type(quantity)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("48600700800"), "48600700800"),
        (48600700800.0, "48600700800"),
        (1234, "1234"),
        ("02-134", "02-134"),
    ],
)
def test_phones_and_postal_codes_from_numeric_columns_become_text(value: object, text: str) -> None:
    assert as_text(value) == text


def test_a_numeric_warehouse_row_makes_a_json_serializable_valid_order() -> None:
    row = line(
        "N",
        quantity=Decimal("2"),
        customer_phone=Decimal("48600700800"),
        customer_postal_code=12345,
        order_created_at="2024-01-15 10:00:00+00",
        sku_source_id=None,
    )
    (order,) = orders_from_rows([row])
    text = json.dumps(order)  # a Decimal left anywhere would raise TypeError here
    (item,) = order["items"]
    assert (item["quantity"], item["amount"]) == (2, 3998)
    assert (item["source_id"], item["related_object"]) == ("PROD-1", "product")
    assert order["customer"]["phone"] == "48600700800"
    assert order["customer"]["address"]["postal_code"] == "12345"
    parsed = parse_order(text, require_source_id=True)
    assert parsed.move_created_at().metadata == {"original_created_at": "2024-01-15T10:00:00.000Z"}


def test_every_item_names_what_it_sold_by_source_id_and_related_object() -> None:
    rows = [line("A"), line("A", sku_source_id=None), line("A", sku_source_id=None, product_source_id=None)]
    (order,) = orders_from_rows(rows)
    named = [(item.get("source_id"), item.get("related_object")) for item in order["items"]]
    assert named == [("SKU-1", "sku"), ("PROD-1", "product"), (None, None)]
