"""The import rules as pure functions (the HTTP tests cover how they are reported)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_voucherify.emulator.validation import ORDER_STATUSES, validate_import, validate_order
from tests.emulator.helpers import order
from tests.openapi import import_examples


@pytest.mark.parametrize("status", ORDER_STATUSES)
def test_every_status_is_accepted(status: str) -> None:
    assert validate_order(order("a", status=status)) is None


def test_the_api_examples_are_valid() -> None:
    assert validate_import(import_examples()) is None


@pytest.mark.parametrize(
    ("orders", "details"),
    [
        ([], "Request body should NOT have fewer than 1 items"),
        ({"orders": []}, "Request body should be array"),
        ([order("a")] * 2001, "Request body should NOT have more than 2000 items"),
        ([order("a"), 5], "Property . should be object"),
    ],
)
def test_body_shape(orders: Any, details: str) -> None:
    assert validate_import(orders) == details


def test_first_error_wins_and_paths_are_relative_to_the_order() -> None:
    bad = order("b", items=[{"quantity": 1}, {"quantity": 1, "amount": -3, "price": "x"}])
    assert validate_import([order("a"), bad]) == "Property .items[1].amount cannot be lower than 0"


def test_nullable_fields_accept_null() -> None:
    assert (
        validate_order({**order(None), "source_id": None, "referrer_id": None, "customer": {"address": None}})
        is None
    )
