"""One order as sent against the order Voucherify returns: every field sent, nothing personal shown."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_provider_voucherify.reconcile.compare import (
    DIFFERS,
    MISSING,
    NOT_SHOWN,
    Difference,
    compare_order,
    instant,
    same_value,
)

SENT: dict[str, Any] = {
    "source_id": "O-1",
    "status": "PAID",
    "amount": 5000,
    "discount_amount": 100,
    "items": [
        {"source_id": "sku-1", "related_object": "sku", "quantity": 2, "price": 2000, "amount": 4000},
        {"product": {"source_id": "prod-9", "name": "Mug", "price": 1000}, "quantity": 1, "price": 1000},
    ],
    "metadata": {"original_created_at": "2021-03-04T05:06:07+00:00", "channel": "web", "n": 3},
    "customer": {"source_id": "C-1", "name": "Jane Q. Customer", "email": "jane@example.com"},
    "referrer": {"source_id": "C-2"},
}

# The shape GET /v1/orders/{id} answers (the emulator's, after the spec's OrdersGetResponseBody).
STORED: dict[str, Any] = {
    "id": "ord_1",
    "source_id": "O-1",
    "object": "order",
    "status": "PAID",
    "amount": 5000,
    "discount_amount": 100,
    "items": [
        {"object": "order_item", "source_id": "sku-1", "related_object": "sku", "sku_id": "sku_1",
         "product_id": "prod_1", "quantity": 2, "price": 2000, "amount": 4000},
        {"object": "order_item", "product_id": "prod_9", "product": {"source_id": "prod-9", "name": "Mug"},
         "quantity": 1, "price": 1000, "amount": 1000},
    ],
    "metadata": {"original_created_at": "2021-03-04T05:06:07.000Z", "channel": "web", "n": "3", "extra": 1},
    "customer_id": "cust_1",
    "referrer_id": "cust_2",
    "customer": {"id": "cust_1", "object": "customer"},
    "referrer": {"id": "cust_2", "object": "customer"},
}  # fmt: skip

CUSTOMERS: dict[str, dict[str, Any]] = {
    "cust_1": {"id": "cust_1", "source_id": "C-1", "name": "Jane Q. Customer", "email": "jane@example.com"},
    "cust_2": {"id": "cust_2", "source_id": "C-2"},
}


def differences(stored: dict[str, Any], customers: dict[str, Any] = CUSTOMERS) -> list[Difference]:
    return compare_order("O-1", SENT, stored, lookup_customer=customers.get)


def altered(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    stored = copy.deepcopy(STORED)
    target = stored
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return stored


def test_an_order_stored_as_sent_has_no_differences() -> None:
    assert differences(STORED) == []


@pytest.mark.parametrize(
    ("path", "value", "field", "sent", "stored"),
    [
        (("status",), "CREATED", "status", "PAID", "CREATED"),
        (("amount",), 5001, "amount", "5000", "5001"),
        (("discount_amount",), 0, "discount_amount", "100", "0"),
        (("items", 0, "quantity"), 3, "items[0].quantity", "2", "3"),
        (("items", 0, "price"), 1999, "items[0].price", "2000", "1999"),
        (("items", 0, "amount"), 3998, "items[0].amount", "4000", "3998"),
        (("items", 0, "source_id"), "sku-2", "items[0].source_id", "sku-1", "sku-2"),
        (("items", 1, "product"), {"source_id": "prod-8"}, "items[1].product.source_id", "prod-9", "prod-8"),
        (("metadata", "original_created_at"), "2021-03-05T05:06:07.000Z",
         "metadata.original_created_at", "2021-03-04T05:06:07+00:00", "2021-03-05T05:06:07.000Z"),
        (("metadata", "channel"), "store", "metadata.channel", "web", "store"),
    ],
)  # fmt: skip
def test_each_field_sent_is_compared(
    path: tuple[Any, ...], value: Any, field: str, sent: str, stored: str
) -> None:
    assert differences(altered(path, value)) == [Difference("O-1", field, sent, stored)]


def test_missing_fields_items_and_metadata_keys_are_differences() -> None:
    stored = copy.deepcopy(STORED)
    del stored["metadata"]["channel"]
    stored["items"].pop()
    del stored["discount_amount"]

    assert differences(stored) == [
        Difference("O-1", "discount_amount", "100", MISSING),
        Difference("O-1", "items", "2 items", "1 items"),
        Difference("O-1", "metadata.channel", "web", MISSING),
    ]


def test_a_missing_order_is_one_difference() -> None:
    assert compare_order("O-1", SENT, None) == [Difference("O-1", "order", "present", MISSING)]


def test_customer_and_referrer_are_compared_by_source_id() -> None:
    customers = {**CUSTOMERS, "cust_2": {"id": "cust_2", "source_id": "C-3"}}

    assert differences(STORED, customers) == [Difference("O-1", "referrer.source_id", "C-2", "C-3")]
    no_link = {key: value for key, value in STORED.items() if not key.startswith("customer")}
    assert differences(no_link) == [Difference("O-1", "customer", "C-1", MISSING)]


def test_personal_data_is_compared_but_never_shown() -> None:
    customers = {**CUSTOMERS, "cust_1": {**CUSTOMERS["cust_1"], "email": "john@example.com"}}

    found = differences(STORED, customers)

    assert found == [Difference("O-1", "customer.email", NOT_SHOWN, DIFFERS)]
    assert "example.com" not in repr(found)


def test_a_later_profile_is_what_the_customer_must_hold() -> None:
    later = {"customer": {"source_id": "C-1", "name": "Jane Q. Customer", "email": "new@example.com"}}
    customers = {**CUSTOMERS, "cust_1": {**CUSTOMERS["cust_1"], "email": "new@example.com"}}

    assert compare_order("O-1", SENT, STORED, profiles=later, lookup_customer=customers.get) == []


def test_without_a_customer_lookup_only_the_link_is_checked() -> None:
    assert compare_order("O-1", SENT, STORED) == []


@pytest.mark.parametrize(
    ("sent", "stored", "same"),
    [
        ("2021-03-04T05:06:07+00:00", "2021-03-04T05:06:07.000Z", True),
        ("2021-03-04T07:06:07+02:00", "2021-03-04T05:06:07Z", True),
        ("2021-03-04T05:06:07", "2021-03-04T05:06:07.000Z", True),
        ("2021-03-04T05:06:07+00:00", "2021-03-04T05:06:08.000Z", False),
        (5, "5", True),
        (2.5, "2.5", True),
        (True, "true", True),
        (True, 1, False),
        (5, 6, False),
        ("12345678", "12345678", True),
        ("12345678", "12345679", False),
        ({"a": [1, 2]}, {"a": [1, 2], "b": 3}, True),
        ({"a": [1, 2]}, {"a": [1]}, False),
        (None, None, True),
        (None, "x", False),
    ],
)
def test_values_are_compared_as_what_they_mean(sent: Any, stored: Any, same: bool) -> None:
    assert same_value(sent, stored) is same


def test_only_iso_dates_are_read_as_instants() -> None:
    assert instant("20240105") is None
    assert instant("2024-01-05") is not None
