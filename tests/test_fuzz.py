"""Fuzzed order records: every one ends in a clear validation error naming the record, or is
accepted by the emulator too (client validation is at least as strict as the server's)."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.exceptions import InvalidOrderError
from airflow_provider_voucherify.models import parse_order

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)  # unicode and control characters
numbers = st.one_of(
    st.integers(min_value=-5, max_value=10_000),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)),
    max_leaves=30,
)
maybe = st.one_of  # readability: a field drawn from a plausible value or from anything


def _fields(spec: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Any subset of the known fields, sometimes an unknown one too."""
    return st.fixed_dictionaries({}, optional={**spec, "unknown_field": json_values})


ids = maybe(text, json_values)
amounts = maybe(numbers, json_values)
catalog = _fields(
    {
        "id": ids,
        "source_id": ids,
        "override": maybe(st.booleans(), json_values),
        "price": amounts,
        "name": ids,
        "sku": ids,
        "metadata": json_values,
    }
)
customer = _fields(
    {
        "id": ids,
        "source_id": ids,
        "name": ids,
        "email": ids,
        "phone": ids,
        "birthdate": maybe(st.dates().map(str), text),
        "address": maybe(st.dictionaries(st.sampled_from(["city", "line_1", "country"]), text), json_values),
        "metadata": maybe(st.dictionaries(text, json_values), json_values),
    }
)
item = _fields(
    {
        "source_id": ids,
        "related_object": maybe(st.sampled_from(["product", "sku"]), text),
        "quantity": amounts,
        "price": amounts,
        "amount": amounts,
        "product": maybe(catalog, json_values),
        "sku": maybe(catalog, json_values),
    }
)
orders = _fields(
    {
        "source_id": ids,
        "status": maybe(st.sampled_from(["CREATED", "PAID", "CANCELED", "FULFILLED"]), text),
        "amount": amounts,
        "items": maybe(
            st.lists(item, max_size=5),
            st.lists(st.just({"quantity": 1}), min_size=501, max_size=501),
            json_values,
        ),
        "metadata": maybe(st.dictionaries(text, json_values, max_size=5), json_values),
        "customer": maybe(customer, json_values),
        "created_at": maybe(st.datetimes().map(lambda d: d.isoformat()), text),
    }
)


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False


OUTCOMES: dict[str, int] = {"rejected": 0, "accepted": 0}


def _check(record: Any, client: httpx.Client) -> None:
    try:
        order = parse_order(record, line=42)
    except InvalidOrderError as error:
        assert "line 42" in str(error)
        assert error.errors, "an invalid record must say which field is wrong"
        OUTCOMES["rejected"] += 1
        return
    OUTCOMES["accepted"] += 1
    body = b"[" + order.move_created_at().to_json() + b"]"
    response = client.post("/v1/orders/import", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, (json.loads(body), response.text)


@pytest.fixture
def client(voucherify_emulator: EmulatorServer) -> httpx.Client:
    return voucherify_emulator.client()


@FUZZ
@given(record=orders)
def test_fuzzed_dicts_are_rejected_clearly_or_accepted_by_the_server(
    record: dict[str, Any], client: httpx.Client
) -> None:
    _check(record, client)


@FUZZ
@given(record=orders)
def test_fuzzed_json_lines_are_rejected_clearly_or_accepted(
    record: dict[str, Any], client: httpx.Client
) -> None:
    line = json.dumps(record, allow_nan=True)  # NaN / Infinity tokens as Python would write them
    if _has_non_finite(record):
        with pytest.raises(InvalidOrderError):
            parse_order(line, line=42)
        return
    _check(line, client)


@settings(max_examples=200, deadline=None)
@given(line=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_invalid_order(line: bytes) -> None:
    try:
        parse_order(line, line=9)
    except InvalidOrderError as error:
        assert "line 9" in str(error)


def test_fuzzing_exercised_both_outcomes() -> None:
    """Guards the fuzz tests above against generating only one kind of record (runs after them)."""
    if OUTCOMES["accepted"] + OUTCOMES["rejected"] == 0:
        pytest.skip("run together with the fuzz tests above")
    print(f"fuzzed records: {OUTCOMES}")
    assert OUTCOMES["accepted"] >= 20, OUTCOMES
    assert OUTCOMES["rejected"] >= 20, OUTCOMES
