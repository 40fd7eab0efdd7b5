"""The models: the API's rules, its own examples, and the spec's request schema."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_voucherify.exceptions import InvalidOrderError
from airflow_provider_voucherify.models import (
    ActionStatus,
    AsyncAction,
    Order,
    OrderStatus,
    parse_order,
)
from tests.openapi import drop_order_item_required_object, import_examples, validator

EXAMPLES = import_examples()


def test_the_spec_has_seven_import_examples() -> None:
    assert len(EXAMPLES) == 7


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["source_id"] for e in EXAMPLES])
def test_api_examples_validate_and_round_trip_unchanged(example: dict[str, Any]) -> None:
    order = parse_order(example)
    assert json.loads(order.to_json()) == example


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["source_id"] for e in EXAMPLES])
def test_serialized_examples_conform_to_the_request_schema(example: dict[str, Any]) -> None:
    schema = validator(
        "orders.openapi.json", "OrdersImportCreateRequestBody", drop_order_item_required_object
    )
    schema.validate([json.loads(parse_order(example).to_json())])


def test_conformance_check_can_fail() -> None:
    schema = validator(
        "orders.openapi.json", "OrdersImportCreateRequestBody", drop_order_item_required_object
    )
    assert not schema.is_valid([{"status": "SHIPPED"}])
    assert not schema.is_valid([{"items": [{"quantity": "2"}]}])


def test_json_lines_parse_like_dicts() -> None:
    line = json.dumps(EXAMPLES[0]).encode()
    assert parse_order(line) == parse_order(EXAMPLES[0])


@pytest.mark.parametrize(
    ("record", "path", "reason"),
    [
        ({"status": "SHIPPED"}, ".status", "Input should be"),
        ({"amount": -1}, ".amount", "greater than or equal to 0"),
        ({"amount": 10.5}, ".amount", "valid integer"),
        ({"amount": "100"}, ".amount", "valid integer"),
        ({"amount": 2**60}, ".amount", "less than or equal"),
        ({"items": [{"quantity": 0}]}, ".items[0].quantity", "greater than or equal to 1"),
        ({"items": [{"price": -5}]}, ".items[0].price", "greater than or equal to 0"),
        ({"items": [{"related_object": "voucher"}]}, ".items[0].related_object", "Input should be"),
        ({"items": [{}] * 501}, ".items", "at most 500"),
        ({"metadata": {"x": math.nan}}, ".metadata", "NaN"),
        ({"metadata": {"x": {1, 2}}}, ".metadata", "not JSON"),
        ({"metadata": "note"}, ".metadata", "valid dictionary"),
        ({"sourceid": "typo"}, ".sourceid", "unknown field"),
        ({"items": [{"qty": 1}]}, ".items[0].qty", "unknown field"),
        ({"customer": {"source_id": ""}}, ".customer.source_id", "at least 1 character"),
    ],
)
def test_rule_violations_name_the_field(record: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(InvalidOrderError) as caught:
        parse_order({"source_id": "o-1", **record}, line=7)
    error = caught.value
    assert (error.line, error.source_id) == (7, "o-1")
    assert any(p == path and reason in r for p, r in error.errors), error.errors


def test_deep_metadata_is_refused() -> None:
    nested: dict[str, Any] = {}
    node = nested
    for _ in range(20):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(InvalidOrderError, match="nested deeper"):
        parse_order({"metadata": nested})


def test_non_json_line_is_an_invalid_order() -> None:
    with pytest.raises(InvalidOrderError) as caught:
        parse_order(b"{not json", line=3)
    assert caught.value.line == 3


def test_source_id_can_be_required() -> None:
    with pytest.raises(InvalidOrderError, match="source_id"):
        parse_order({"status": "PAID"}, require_source_id=True)


def test_personal_data_stays_out_of_errors_and_repr() -> None:
    record = {
        "source_id": "o-1",
        "customer": {"email": "jane@example.com", "name": "Jane Roe", "phone": 12345},
        "amount": "jane@example.com",
    }
    with pytest.raises(InvalidOrderError) as caught:
        parse_order(record)
    assert "jane@example.com" not in str(caught.value)
    assert "12345" not in str(caught.value)
    order = parse_order({"source_id": "o-1", "customer": {"email": "jane@example.com", "name": "Jane Roe"}})
    assert "jane@example.com" not in repr(order)
    assert "Jane Roe" not in repr(order)


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        ("2020-02-03T04:05:06Z", "2020-02-03T04:05:06.000Z"),
        ("2020-02-03T04:05:06+02:00", "2020-02-03T02:05:06.000Z"),
        (datetime(2020, 2, 3, 4, 5, 6), "2020-02-03T04:05:06.000Z"),
        (datetime(2020, 2, 3, 4, 5, 6, tzinfo=timezone.utc), "2020-02-03T04:05:06.000Z"),
    ],
)
def test_created_at_moves_into_metadata(created_at: Any, expected: str) -> None:
    order = parse_order({"source_id": "o", "created_at": created_at, "metadata": {"a": 1}})
    sent = json.loads(order.move_created_at("placed_at").to_json())
    assert sent == {"source_id": "o", "metadata": {"a": 1, "placed_at": expected}}


def test_created_at_is_never_sent_as_is() -> None:
    order = parse_order({"source_id": "o", "created_at": "2020-02-03T04:05:06Z"})
    assert "created_at" not in json.loads(order.to_json())
    assert "metadata" not in json.loads(order.move_created_at(None).to_json())


@pytest.mark.parametrize("status", list(ActionStatus))
def test_async_action_statuses_parse(status: ActionStatus) -> None:
    action = AsyncAction.model_validate({"id": "aa_1", "status": status.value, "new_field": 1})
    assert action.status is status
    assert action.status.is_final == (status in (ActionStatus.DONE, ActionStatus.FAILED))


def test_import_result_reads_failed_as_a_list_with_null_source_ids() -> None:
    action = AsyncAction.model_validate(
        {
            "id": "aa_1",
            "type": "ORDERS.IMPORT",
            "status": "DONE",
            "result": {
                "message": "m",
                "done_count": 1,
                "failed_count": 1,
                "failed": [{"source_id": None, "reason": "r"}],
            },
        }
    )
    assert action.import_result is not None
    assert action.import_result.failed[0].source_id is None


def test_order_statuses_match_the_spec() -> None:
    from tests.openapi import load_spec

    spec_enum = load_spec("orders.openapi.json")["components"]["schemas"]["OrderBase"]["properties"][
        "status"
    ]["enum"]
    assert [s.value for s in OrderStatus] == spec_enum


def test_order_model_refuses_unknown_fields_directly() -> None:
    with pytest.raises(ValueError, match="extra"):
        Order.model_validate({"bogus": 1})


def test_moving_created_at_leaves_the_callers_order_unchanged() -> None:
    order = parse_order({"source_id": "o", "created_at": "2020-02-03T04:05:06Z", "metadata": {"a": 1}})
    moved = order.move_created_at()
    assert order.created_at is not None
    assert order.metadata == {"a": 1}
    assert moved.metadata == {"a": 1, "original_created_at": "2020-02-03T04:05:06.000Z"}
    plain = parse_order({"source_id": "p"})
    assert plain.move_created_at() is plain


# Every name `airflow_provider_voucherify.models` offered before the models were split into
# orders.py and async_actions.py: user code imports them from here, so none may go.
MODELS_PUBLIC_NAMES = [
    "DEFAULT_CREATED_AT_METADATA_KEY",
    "MAX_IMPORT_BYTES",
    "MAX_ITEMS_PER_ORDER",
    "MAX_METADATA_DEPTH",
    "MAX_ORDERS_PER_IMPORT",
    "MAX_SAFE_INTEGER",
    "RELATED_OBJECT_MISSING",
    "ActionList",
    "ActionStatus",
    "Address",
    "AsyncAction",
    "Count",
    "Customer",
    "FailedOrder",
    "Id",
    "ImportResult",
    "InvalidOrderError",
    "IsoDate",
    "IsoDateTime",
    "ItemProduct",
    "ItemSku",
    "Metadata",
    "Money",
    "Order",
    "OrderItem",
    "OrderStatus",
    "Quantity",
    "api_datetime",
    "check_metadata",
    "items_without_kind",
    "parse_action_list",
    "parse_order",
    "parse_orders",
    "validation_errors",
]


@pytest.mark.parametrize("name", MODELS_PUBLIC_NAMES)
def test_every_name_stays_importable_from_models(name: str) -> None:
    from airflow_provider_voucherify import async_actions, exceptions, formats, models, orders

    assert name in models.__all__
    homes = [m for m in (orders, async_actions, formats, exceptions) if hasattr(m, name)]
    assert homes
    assert all(getattr(models, name) is getattr(home, name) for home in homes)
