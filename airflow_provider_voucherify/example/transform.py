"""Warehouse rows (one per order line) into the orders of ``POST /v1/orders/import``.

The example DAG's query returns one row per order line, ordered so that the lines of an order
are consecutive, with these columns (the ``customer_*`` and ``referrer_*`` groups, the product
and the SKU are optional; missing or NULL columns are left out of the order):

=======================  ================================================================
``order_source_id``      your order id: the import upserts by it
``order_status``         ``CREATED``, ``PAID``, ``CANCELED`` or ``FULFILLED``
``order_amount``         the order's total in currency units (e.g. ``19.99``)
``order_created_at``     when the order was placed (a timestamp or ISO 8601 text; naive = UTC)
``customer_source_id``   ... and ``customer_name``, ``customer_email``, ``customer_phone``,
                         ``customer_city``, ``customer_country``, ``customer_postal_code``
                         (phones and postal codes from numeric columns become text)
``referrer_source_id``   ... and the same ``referrer_*`` details
``product_source_id``    ... and ``product_name``, ``product_price``
``sku_source_id``        ... and ``sku_code``, ``sku_price``
``quantity``             units of the line (an integer, or an integral NUMERIC / float)
``unit_price``           price of one unit in currency units
=======================  ================================================================

Amounts become integers in the smallest currency unit (cents), exactly, through ``Decimal``.
Quantities read from NUMERIC columns (``Decimal("2")``) become integers. Each item names what it
sold the way every official import example does: its ``source_id`` with ``related_object``
(``"sku"`` when the row has a SKU, else ``"product"``), plus the product and SKU objects with
``override: true`` so the import creates or updates them. The original order date goes out as
``created_at``; the import operator moves it into metadata.
With ``customer_details="source_id_only"`` the customer and the referrer carry only their
``source_id``: the order is linked to them and their current profile is left as it is (the import
overwrites a profile with the name, email, phone and address an order carries, which for a
historical order are the customer's details of back then).
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, Protocol

from airflow_provider_voucherify.formats import parse_datetime

Row = Mapping[str, Any]
CustomerDetails = Literal["full", "source_id_only"]
CUSTOMER_DETAILS: tuple[CustomerDetails, ...] = ("full", "source_id_only")
_CENT = Decimal("0.01")
_PARTY_DETAILS = ("name", "email")
_TEXT_DETAILS = ("phone",)  # numeric columns too: the API takes text
_ADDRESS_DETAILS = ("city", "country")
_ADDRESS_TEXT_DETAILS = ("postal_code",)


class WritablePath(Protocol):
    """A local ``pathlib.Path`` or an ``ObjectStoragePath`` (s3://, gs://, file://...)."""

    @property
    def parent(self) -> Any: ...

    def open(self, mode: str = ...) -> Any: ...


def to_cents(value: Decimal | float | int | str | None) -> int | None:
    """An amount in currency units as an integer number of cents, rounded half up; ``None`` stays."""
    if value is None:
        return None
    # str() first: a float such as 19.99 is really 19.989999..., its shortest repr is not.
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return int((amount.quantize(_CENT, rounding=ROUND_HALF_UP) * 100).to_integral_value())


def iso_utc(value: datetime | date | str | None) -> str | None:
    """A timestamp as ISO 8601 with its offset; naive timestamps are taken as UTC.

    Text is read by the provider's one date parser (PostgreSQL's ``2024-01-15 10:00:00+00``
    included); a non-ISO text raises ``ValueError``.
    """
    if value is None:
        return None
    return parse_datetime(value).isoformat()


def to_quantity(value: Decimal | float | int | None) -> int | float | None:
    """A quantity as an integer when it is integral (``Decimal("2")`` from a NUMERIC column → 2).

    A fractional quantity stays a number (a float, which JSON can carry), so that validation
    rejects that one order with its line instead of the whole file failing to serialize.
    """
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    return int(number) if number == number.to_integral_value() else float(number)


def as_text(value: Any) -> str | None:
    """A phone number or postal code as text, also from a numeric column (``48600700800.0``)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        if number == number.to_integral_value():
            return str(int(number))
    return str(value)


def _drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


def _party(row: Row, prefix: str, details: CustomerDetails = "full") -> dict[str, Any] | None:
    source_id = row.get(f"{prefix}_source_id")
    if source_id is None:
        return None
    if details == "source_id_only":
        return {"source_id": str(source_id)}
    party = _drop_none(
        {"source_id": str(source_id)}
        | {key: row.get(f"{prefix}_{key}") for key in _PARTY_DETAILS}
        | {key: as_text(row.get(f"{prefix}_{key}")) for key in _TEXT_DETAILS}
    )
    address = _drop_none(
        {key: row.get(f"{prefix}_{key}") for key in _ADDRESS_DETAILS}
        | {key: as_text(row.get(f"{prefix}_{key}")) for key in _ADDRESS_TEXT_DETAILS}
    )
    if address:
        party["address"] = address
    return party


def _item(row: Row) -> dict[str, Any]:
    quantity = to_quantity(row.get("quantity"))
    price = to_cents(row.get("unit_price"))
    item: dict[str, Any] = {}
    product_source_id = row.get("product_source_id")
    sku_source_id = row.get("sku_source_id")
    # What the line sold, by your id: the SKU when there is one, else the product.
    if sku_source_id is not None:
        item.update(source_id=str(sku_source_id), related_object="sku")
    elif product_source_id is not None:
        item.update(source_id=str(product_source_id), related_object="product")
    item.update(quantity=quantity, price=price)
    if isinstance(quantity, int) and price is not None:
        item["amount"] = quantity * price
    if product_source_id is not None:
        item["product"] = _drop_none(
            {
                "source_id": str(product_source_id),
                "name": row.get("product_name"),
                "price": to_cents(row.get("product_price")),
                "override": True,
            }
        )
    if sku_source_id is not None:
        item["sku"] = _drop_none(
            {
                "source_id": str(sku_source_id),
                "sku": row.get("sku_code"),
                "price": to_cents(row.get("sku_price")),
                "override": True,
            }
        )
    return _drop_none(item)


def order_from_rows(rows: Iterable[Row], customer_details: CustomerDetails = "full") -> dict[str, Any]:
    """One order from the rows of its lines (the order's own columns are read from the first).

    :param customer_details: ``"full"`` sends the customer's and referrer's details, which update
        their profiles; ``"source_id_only"`` links them by ``source_id`` alone
    """
    if customer_details not in CUSTOMER_DETAILS:
        raise ValueError(f"customer_details must be one of {CUSTOMER_DETAILS}, got {customer_details!r}")
    lines = iter(rows)
    first = next(lines)
    order: dict[str, Any] = _drop_none(
        {
            "source_id": str(first["order_source_id"]),
            "status": first.get("order_status"),
            "amount": to_cents(first.get("order_amount")),
            "created_at": iso_utc(first.get("order_created_at")),
            "customer": _party(first, "customer", customer_details),
            "referrer": _party(first, "referrer", customer_details),
        }
    )
    items = [_item(row) for row in itertools.chain([first], lines)]
    order["items"] = [item for item in items if item]
    return order


def orders_from_rows(
    rows: Iterable[Row], customer_details: CustomerDetails = "full"
) -> Iterator[dict[str, Any]]:
    """Group consecutive rows by ``order_source_id`` into orders, one order in memory at a time."""
    for _, lines in itertools.groupby(rows, key=lambda row: row["order_source_id"]):
        yield order_from_rows(lines, customer_details)


def write_jsonl_gz(orders: Iterable[Mapping[str, Any]], path: WritablePath) -> int:
    """Write ``orders`` as gzip-compressed JSON Lines to ``path``; returns how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        for order in orders:
            out.write(json.dumps(order, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
            count += 1
    return count
