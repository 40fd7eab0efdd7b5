"""Metadata schemas in the emulator: the two reads (spec shapes, 404), and enforcement per order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from tests.emulator.helpers import import_and_wait, order
from tests.openapi import validator

SPEC = "metadata-schemas.openapi.json"

ORDER_SCHEMA = {
    "allow_defined_only": False,
    "properties": {
        "location": {"type": "number", "array": False, "optional": True, "gte": 0, "lt": 100},
        "channel": {"type": "string", "array": False, "optional": False, "eq": ["web", "store"]},
        "original_created_at": {"type": "datetime", "array": False, "optional": True},
        "tags": {"type": "string", "array": True, "optional": True, "min_length": 2},
        "day": {"type": "date", "array": False, "optional": True},
        "gone": {"type": "number", "array": False, "optional": False, "deleted": True},
    },
}


def list_body_as_documented(schemas: dict[str, Any]) -> None:
    """The list body requires ``data``, which it never defines: the list is in ``schemas``."""
    required = schemas["MetadataSchemasListResponseBody"]["required"]
    assert "data" in required
    required.remove("data")


def with_metadata(source_id: str, metadata: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return order(source_id, metadata=metadata, **fields)


def failures(action: dict[str, Any]) -> dict[str, str]:
    assert action["status"] == "DONE"
    return {entry["source_id"]: entry["reason"] for entry in action["result"]["failed"]}


def test_no_schema_is_a_404_and_an_empty_list(emulator: EmulatorServer) -> None:
    with emulator.client() as client:
        missing = client.get("/v1/metadata-schemas/order")
        listing = client.get("/v1/metadata-schemas")
    assert missing.status_code == 404
    assert missing.json()["key"] == "not_found"
    assert listing.json() == {"object": "list", "data_ref": "schemas", "schemas": [], "total": 0}


def test_schemas_are_served_in_the_spec_shapes(emulator: EmulatorServer) -> None:
    emulator.set_metadata_schemas({"order": ORDER_SCHEMA, "customer": {"properties": {}}})
    with emulator.client() as client:
        one = client.get("/v1/metadata-schemas/order")
        listing = client.get("/v1/metadata-schemas")
    assert one.status_code == 200
    errors = list(validator(SPEC, "MetadataSchemasGetResponseBody").iter_errors(one.json()))
    assert not errors, errors
    assert one.json()["related_object"] == "order"
    assert one.json()["properties"] == ORDER_SCHEMA["properties"]
    errors = list(
        validator(SPEC, "MetadataSchemasListResponseBody", list_body_as_documented).iter_errors(
            listing.json()
        )
    )
    assert not errors, errors
    assert sorted(s["related_object"] for s in listing.json()["schemas"]) == ["customer", "order"]
    assert emulator.stats()["requests"]["GET /v1/metadata-schemas/{resource}"] == {"200": 1}


def test_reset_restores_the_schemas_given_on_the_command_line(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas.json"
    schemas.write_text(json.dumps({"order": ORDER_SCHEMA}))
    with EmulatorServer(tmp_path / "emu", orders_per_second=0, metadata_schemas=schemas) as server:
        server.set_metadata_schemas({"order": None, "product": {"properties": {}}})
        with server.client() as client:
            assert client.get("/v1/metadata-schemas/order").status_code == 404
        server.reset()
        with server.client() as client:
            assert client.get("/v1/metadata-schemas/order").json()["properties"] == ORDER_SCHEMA["properties"]
            assert client.get("/v1/metadata-schemas/product").status_code == 404


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ({"channel": "web", "location": "x"}, "Property .metadata.location should be number"),
        (
            {"channel": "mail"},
            "Property .metadata.channel should be equal to one of the allowed values: web, store",
        ),
        ({"location": 3}, "Property .metadata.channel is required by the order metadata schema"),
        ({"channel": "web", "location": 100}, "Property .metadata.location should be less than 100"),
        (
            {"channel": "web", "location": -1},
            "Property .metadata.location should be greater than or equal to 0",
        ),
        ({"channel": "web", "tags": "a"}, "Property .metadata.tags should be array of string"),
        (
            {"channel": "web", "tags": ["ab", "c"]},
            "Property .metadata.tags should NOT be shorter than 2 characters",
        ),
        ({"channel": "web", "day": "2021-02-30"}, 'Property .metadata.day should match format "date"'),
        (
            {"channel": "web", "original_created_at": "yesterday"},
            'Property .metadata.original_created_at should match format "date-time"',
        ),
    ],
)
def test_a_broken_rule_fails_the_order_naming_the_key(
    emulator: EmulatorServer, metadata: dict[str, Any], reason: str
) -> None:
    emulator.set_metadata_schemas({"order": ORDER_SCHEMA})
    good = {"channel": "store", "location": 5, "original_created_at": "2020-03-11T09:00:00.000Z"}
    action = import_and_wait(emulator, [with_metadata("bad", metadata), with_metadata("good", good)])
    assert failures(action) == {"bad": reason}
    assert action["result"]["done_count"] == 1
    assert emulator.stats()["orders_stored"] == 1


def test_allow_defined_only_refuses_an_undefined_key(emulator: EmulatorServer) -> None:
    emulator.set_metadata_schemas({"order": {**ORDER_SCHEMA, "allow_defined_only": True}})
    action = import_and_wait(emulator, [with_metadata("a", {"channel": "web", "created_at": "2021"})])
    assert failures(action) == {
        "a": "Property .metadata.created_at is not defined in the order metadata schema,"
        " which allows only defined metadata"
    }


def test_undefined_keys_are_stored_as_strings_when_any_metadata_is_allowed(emulator: EmulatorServer) -> None:
    emulator.set_metadata_schemas({"order": ORDER_SCHEMA})
    metadata = {"channel": "web", "location": 7, "score": 12, "vip": True, "note": "hi"}
    assert failures(import_and_wait(emulator, [with_metadata("a", metadata)])) == {}
    with emulator.client() as client:
        stored = client.get("/v1/orders/a").json()["metadata"]
    assert stored == {"channel": "web", "location": 7, "score": "12", "vip": "true", "note": "hi"}


def test_item_customer_and_product_metadata_meet_their_own_schemas(emulator: EmulatorServer) -> None:
    emulator.set_metadata_schemas(
        {
            "order_item": {"properties": {"size": {"type": "number", "array": False, "optional": False}}},
            "customer": {"allow_defined_only": True, "properties": {}},
            "product": {
                "properties": {
                    "origin": {"type": "string", "optional": True, "array": False, "exactLength": 2}
                }
            },
        }
    )
    item = {"source_id": "sku-1", "related_object": "product", "quantity": 1, "price": 1000}
    bodies = [
        order("item-ok", items=[{**item, "metadata": {"size": 3}}]),
        order("item-plain", items=[item]),  # no metadata on the item: its schema is not applied
        order("item-bad", items=[item, {**item, "metadata": {}}]),
        order("cust-bad", customer={"source_id": "c1", "metadata": {"tier": "gold"}}),
        order("cust-link", customer={"source_id": "c1"}),
        order(
            "prod-bad",
            items=[{**item, "product": {"source_id": "p1", "override": True, "metadata": {"origin": "PLN"}}}],
        ),
    ]
    assert failures(import_and_wait(emulator, bodies)) == {
        "item-bad": "Property .items[1].metadata.size is required by the order_item metadata schema",
        "cust-bad": "Property .customer.metadata.tier is not defined in the customer metadata schema,"
        " which allows only defined metadata",
        "prod-bad": "Property .items[0].product.metadata.origin should be exactly 2 characters",
    }


def test_the_customer_summary_counts_paid_and_fulfilled_orders_only(emulator: EmulatorServer) -> None:
    customer = {"source_id": "cust-1"}
    bodies = [
        order("o1", customer=customer, status="PAID", amount=1000, items=[]),
        order("o2", customer=customer, status="FULFILLED", amount=3000, items=[]),
        order("o3", customer=customer, amount=5000, items=[]),  # no status: CREATED
        order("o4", customer=customer, status="CANCELED", amount=7000, items=[]),
    ]
    del bodies[2]["status"]
    assert failures(import_and_wait(emulator, bodies)) == {}
    with emulator.client() as client:
        summary = client.get("/v1/customers/cust-1").json()["summary"]["orders"]
        created = client.get("/v1/orders/o3").json()
        last = client.get("/v1/orders/o2").json()
    assert created["status"] == "CREATED"
    assert summary["total_count"] == 2
    assert summary["total_amount"] == 4000
    assert summary["average_amount"] == 2000
    assert summary["last_order_amount"] == 3000
    assert summary["last_order_date"] == last["created_at"]


def test_bad_schemas_are_refused_by_the_control(emulator: EmulatorServer) -> None:
    response = emulator._control.put("/_emulator/metadata-schemas", json={"order": {"properties": []}})
    assert response.status_code == 422
