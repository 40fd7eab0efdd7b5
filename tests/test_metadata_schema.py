"""The client's metadata-schema check: unit cases, and a property test that it refuses exactly the
orders the emulator refuses (over HTTP, random schemas and metadata)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.metadata_schema import MetadataSchema, order_errors, resources_used
from airflow_provider_voucherify.models import parse_order
from tests.emulator.helpers import import_and_wait

SCHEMA = MetadataSchema.from_api(
    {
        "related_object": "order",
        "allow_defined_only": False,
        "properties": {
            "location": {"type": "number", "array": False, "optional": True, "gt": 0},
            "channel": {"type": "string", "array": False, "optional": False, "minLength": 2},
            "when": {"type": "datetime", "array": False, "optional": True},
            "old": {"type": "number", "array": False, "optional": False, "deleted": True},
        },
    }
)


def errors_of(metadata: dict[str, Any] | None, schema: MetadataSchema = SCHEMA) -> list[tuple[str, str]]:
    order = parse_order({"source_id": "o", "metadata": metadata})
    return order_errors(order, {"order": schema})


def test_a_type_mismatch_names_the_key_and_the_type() -> None:
    assert errors_of({"channel": "web", "location": "x"}) == [
        (".metadata.location", "should be number (the order metadata schema defines it so)")
    ]


def test_a_missing_required_key_is_an_error_and_a_deleted_one_is_not() -> None:
    assert errors_of({"location": 3}) == [(".metadata.channel", "required by the order metadata schema")]
    assert errors_of(None) == [(".metadata.channel", "required by the order metadata schema")]
    assert errors_of({"channel": None}) == [(".metadata.channel", "required by the order metadata schema")]


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2020-03-11T09:00:00.000Z", True),
        ("2020-03-11T09:00:00+02:00", True),
        ("2020-03-11T09:00Z", True),
        ("2020-03-11T09:00:00.123456789-05:30", True),
        ("2020-03-11T09:00:00", False),  # no zone
        ("2020-03-11", False),
        ("2020-02-30T09:00:00Z", False),
        ("2020-03-11T24:00:00Z", False),
        ("2020-03-11 09:00:00Z", False),
        ("\uff12\uff10\uff12\uff10-03-11T09:00:00Z", False),  # full-width digits
        (20200311, False),
    ],
)
def test_datetime_format(value: Any, valid: bool) -> None:
    assert (errors_of({"channel": "web", "when": value}) == []) is valid


def test_allow_defined_only_refuses_undefined_keys_and_only_then() -> None:
    strict = MetadataSchema.from_api({**_body(SCHEMA), "allow_defined_only": True}, "order")
    assert errors_of({"channel": "web", "x": 1}) == []
    assert errors_of({"channel": "web", "x": 1}, strict) == [
        (".metadata.x", "not defined in the order metadata schema, which allows only defined metadata")
    ]


def _body(schema: MetadataSchema) -> dict[str, Any]:
    return {
        "related_object": schema.resource,
        "properties": {
            key: {"type": rule.type, "array": rule.array, "optional": rule.optional, **rule.constraints}
            for key, rule in schema.properties.items()
        },
    }


def test_items_and_customers_are_checked_only_where_they_carry_metadata() -> None:
    item_schema = MetadataSchema.from_api(
        {"properties": {"size": {"type": "number", "array": False, "optional": False}}}, "order_item"
    )
    customer_schema = MetadataSchema.from_api({"allow_defined_only": True, "properties": {}}, "customer")
    item = {"source_id": "s", "related_object": "product", "quantity": 1}
    order = parse_order(
        {
            "source_id": "o",
            "items": [item, {**item, "metadata": {}}],
            "customer": {"source_id": "c", "metadata": {"tier": "gold"}},
            "referrer": {"source_id": "r"},
        }
    )
    assert resources_used(order) == {"order", "order_item", "customer"}
    assert order_errors(order, {"order_item": item_schema, "customer": customer_schema, "order": None}) == [
        (
            ".customer.metadata.tier",
            "not defined in the customer metadata schema, which allows only defined metadata",
        ),
        (".items[1].metadata.size", "required by the order_item metadata schema"),
    ]


# -- the client and the emulator agree ------------------------------------------------------------

KEYS = ["a", "b", "c", "d"]
TYPES = ["string", "number", "boolean", "date", "datetime", "object", "geopoint"]
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-20, 20),
    st.floats(-20, 20, allow_nan=False),
    st.sampled_from(
        [
            "",
            "x",
            "abc",
            "abcdef",
            "2020-03-11",
            "2020-02-30",
            "2020-03-11T09:00:00.000Z",
            "2020-03-11T09:00:00",
            "2021-12-31T23:59:59+01:00",
        ]
    ),
    st.dictionaries(st.sampled_from(["lat", "lng"]), st.floats(-90, 90), max_size=2),
)
value = st.one_of(scalar, st.lists(scalar, max_size=3))


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(TYPES))
    rule: dict[str, Any] = {"type": kind, "array": draw(st.booleans()), "optional": draw(st.booleans())}
    if draw(st.booleans()):
        rule["deleted"] = True
    if kind == "number":
        for name in ("lt", "lte", "gt", "gte"):
            if draw(st.integers(0, 3)) == 0:
                rule[name] = draw(st.integers(-10, 10))
        if draw(st.integers(0, 3)) == 0:
            rule[draw(st.sampled_from(["eq", "ne"]))] = draw(
                st.lists(st.integers(-3, 3), min_size=1, max_size=3)
            )
    if kind == "string":
        for name in ("min_length", "maxLength", "exact_length"):
            if draw(st.integers(0, 3)) == 0:
                rule[name] = draw(st.integers(0, 6))
        if draw(st.integers(0, 3)) == 0:
            rule[draw(st.sampled_from(["eq", "ne"]))] = draw(
                st.lists(st.sampled_from(["x", "abc", ""]), min_size=1, max_size=2)
            )
    return rule


schemas = st.fixed_dictionaries(
    {
        "allow_defined_only": st.booleans(),
        "properties": st.dictionaries(st.sampled_from(KEYS), rules(), max_size=3),
    }
)
metadatas = st.one_of(st.none(), st.dictionaries(st.sampled_from([*KEYS, "e"]), value, max_size=4))
AGREE = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@AGREE
@given(
    order_schema=schemas,
    item_schema=schemas,
    metadata=st.lists(st.tuples(metadatas, metadatas), min_size=1, max_size=12),
)
def test_the_client_refuses_exactly_the_orders_the_emulator_refuses(
    emulator: EmulatorServer,
    order_schema: dict[str, Any],
    item_schema: dict[str, Any],
    metadata: list[tuple[dict[str, Any] | None, dict[str, Any] | None]],
) -> None:
    emulator.set_metadata_schemas({"order": order_schema, "order_item": item_schema})
    orders = []
    for number, (order_metadata, item_metadata) in enumerate(metadata):
        order: dict[str, Any] = {"source_id": f"o{number}", "status": "PAID"}
        if order_metadata is not None:
            order["metadata"] = order_metadata
        if item_metadata is not None:
            order["items"] = [
                {"source_id": "s", "related_object": "product", "quantity": 1, "metadata": item_metadata}
            ]
        orders.append(order)
    known = {
        "order": MetadataSchema.from_api(order_schema, "order"),
        "order_item": MetadataSchema.from_api(item_schema, "order_item"),
    }
    client_refuses = {order["source_id"]: order_errors(parse_order(order), known) for order in orders}
    action = import_and_wait(emulator, orders)
    emulator_refuses = {entry["source_id"]: entry["reason"] for entry in action["result"]["failed"]}
    assert set(emulator_refuses) == {key for key, errors in client_refuses.items() if errors}
    for source_id, reason in emulator_refuses.items():
        # The emulator names the first key it refuses; the client lists that key among its errors.
        assert any(reason.startswith(f"Property {path} ") for path, _ in client_refuses[source_id]), (
            reason,
            client_refuses[source_id],
        )
