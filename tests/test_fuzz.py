"""Fuzzed order records: every one ends in a clear validation error naming the record, or is
accepted by the emulator too (client validation is at least as strict as the server's); and on the
fields both check, the client accepts an order if and only if the emulator accepts it.

The amounts drawn include what warehouses write: integral floats (pandas), ``Decimal`` (NUMERIC
columns, dicts only: JSON has no Decimal), fractional amounts and booleans; the dates include
every ISO 8601 form a warehouse writes (``T`` or space, ``Z`` or offsets, 0-9 fraction digits,
PostgreSQL's ``+00``) and non-ISO ones.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.exceptions import InvalidOrderError
from airflow_provider_voucherify.models import parse_order
from airflow_provider_voucherify.paths import unaddressable_reason

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


# What warehouses write for an amount: ints, integral floats (pandas), Decimals (NUMERIC), fractions.
warehouse_amounts = st.one_of(
    st.integers(min_value=-5, max_value=10**9),
    st.integers(min_value=-5, max_value=10**9).map(float),
    st.integers(min_value=-5, max_value=10**9).map(Decimal),
    st.decimals(min_value=-5, max_value=10**6, places=2, allow_nan=False, allow_infinity=False),
    st.floats(min_value=-5, max_value=1e6, allow_nan=False).filter(lambda f: not f.is_integer()),
    st.booleans(),
)
json_amounts = warehouse_amounts.filter(lambda value: not isinstance(value, Decimal))


@st.composite
def iso_dates(draw: st.DrawFn) -> str:
    """An ISO 8601 date-time as warehouses write it (all valid)."""
    moment = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)))
    text = moment.strftime("%Y-%m-%d") + draw(st.sampled_from(["T", " "])) + moment.strftime("%H:%M:%S")
    digits = draw(st.integers(min_value=0, max_value=9))
    if digits:
        text += "." + f"{moment.microsecond:06d}000"[:digits]
    return text + draw(st.sampled_from(["", "Z", "+00", "+00:00", "+05:30", "-0800", "-03"]))


NON_ISO_DATES = ["01/05/2023", "2023/01/05", "5 Jan 2023", "Jan 5, 2023 10:00", "2023-1-5", "1700000000"]
dates = st.one_of(iso_dates(), st.sampled_from(NON_ISO_DATES))
API_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

ids = maybe(text, json_values)
amounts = maybe(numbers, warehouse_amounts, json_values)
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
        "created_at": maybe(st.datetimes().map(lambda d: d.isoformat()), dates, text),
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


def _check(record: Any, client: httpx.Client, outcomes: Counter[str]) -> None:
    try:
        order = parse_order(record, line=42)
    except InvalidOrderError as error:
        assert "line 42" in str(error)
        assert error.errors, "an invalid record must say which field is wrong"
        outcomes["rejected"] += 1
        return
    outcomes["accepted"] += 1
    moved = order.move_created_at()
    if order.created_at is not None:
        assert API_DATE.match(moved.metadata["original_created_at"]), moved.metadata  # type: ignore[index]
    body = b"[" + moved.to_json() + b"]"
    response = client.post("/v1/orders/import", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, (json.loads(body), response.text)


def assert_both_outcomes(outcomes: Counter[str], *kinds: str) -> None:
    """Guards a fuzz test against generating only one kind of record: each kind at least 10 times in
    its 300 examples (measured: 32-36 accepted records of 300, 85 that both sides accept)."""
    print(f"fuzzed records: {dict(outcomes)}")
    for kind in kinds:
        assert outcomes[kind] >= 10, dict(outcomes)


@pytest.fixture
def client(voucherify_emulator: EmulatorServer) -> httpx.Client:
    return voucherify_emulator.client()


def test_fuzzed_dicts_are_rejected_clearly_or_accepted_by_the_server(client: httpx.Client) -> None:
    outcomes: Counter[str] = Counter()

    @FUZZ
    @given(record=orders)
    def check(record: dict[str, Any]) -> None:
        _check(record, client, outcomes)

    check()
    assert_both_outcomes(outcomes, "accepted", "rejected")


def test_fuzzed_json_lines_are_rejected_clearly_or_accepted(client: httpx.Client) -> None:
    outcomes: Counter[str] = Counter()

    @FUZZ
    @given(record=orders)
    def check(record: dict[str, Any]) -> None:
        # NaN / Infinity tokens as Python would write them; a Decimal as the JSON number it stands for
        line = json.dumps(record, allow_nan=True, default=float)
        if _has_non_finite(record):
            with pytest.raises(InvalidOrderError):
                parse_order(line, line=42)
            return
        _check(line, client, outcomes)

    check()
    assert_both_outcomes(outcomes, "accepted", "rejected")


# Records of the fields both sides check (no created_at, no unknown fields, ids of 1-40 characters,
# amounts within 2**53): on these the two must agree exactly.
short_ids = st.text(min_size=1, max_size=40)
shared_item = st.fixed_dictionaries(
    {},
    optional={
        "source_id": short_ids,
        "related_object": st.sampled_from(["product", "sku", "voucher"]),
        "quantity": json_amounts,
        "price": json_amounts,
        "amount": json_amounts,
        "discount_quantity": json_amounts,
    },
)
shared_orders = st.fixed_dictionaries(
    {},
    optional={
        "source_id": short_ids,
        "status": st.sampled_from(["CREATED", "PAID", "CANCELED", "FULFILLED", "paid"]),
        "amount": json_amounts,
        "discount_amount": json_amounts,
        "items": st.lists(shared_item, max_size=4),
        "customer": st.fixed_dictionaries({"source_id": short_ids}),
        "customer_id": short_ids,
    },
)


def _unaddressable(record: dict[str, Any]) -> str | None:
    """The first order or customer ``source_id`` no URL path can read back (``"."``, ``".."``)."""
    for value in (record.get("source_id"), record.get("customer", {}).get("source_id")):
        if isinstance(value, str) and unaddressable_reason(value) is not None:
            return value
    return None


def test_the_client_accepts_an_order_iff_the_emulator_does(client: httpx.Client) -> None:
    """One deliberate difference: the client refuses an order or customer ``source_id`` of ``"."``
    or ``".."``, which the import accepts but ``GET /v1/orders/{source_id}`` can never read back
    (the path means the collection or its parent), so verification could never find it."""
    agreement: Counter[str] = Counter()

    @FUZZ
    @given(record=shared_orders)
    @example(record={"source_id": "."})
    @example(record={"source_id": "o", "customer": {"source_id": ".."}})
    def check(record: dict[str, Any]) -> None:
        refusal = ""
        try:
            parse_order(json.dumps(record))
            client_accepts = True
        except InvalidOrderError as error:
            client_accepts = False
            refusal = str(error)
        unreadable = _unaddressable(record)
        if unreadable is not None:
            assert not client_accepts, record
            assert "read it back" in refusal, refusal
            agreement["unaddressable refused"] += 1
            return
        response = client.post("/v1/orders/import", content=json.dumps([record]).encode())
        assert response.status_code in (200, 400), response.text
        assert client_accepts == (response.status_code == 200), (record, response.text)
        agreement["both accepted" if client_accepts else "both refused"] += 1

    check()
    assert_both_outcomes(agreement, "both accepted", "both refused")


@settings(max_examples=300, deadline=None)
@given(created_at=iso_dates())
def test_every_iso_form_a_warehouse_writes_is_read_into_the_documented_form(created_at: str) -> None:
    moved = parse_order({"source_id": "o", "created_at": created_at}).move_created_at()
    assert moved.metadata is not None
    assert API_DATE.match(moved.metadata["original_created_at"])


@pytest.mark.parametrize("created_at", NON_ISO_DATES)
def test_non_iso_dates_are_refused_saying_iso_8601(created_at: str) -> None:
    with pytest.raises(InvalidOrderError, match="ISO 8601"):
        parse_order({"source_id": "o", "created_at": created_at})


@settings(max_examples=200, deadline=None)
@given(line=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_invalid_order(line: bytes) -> None:
    try:
        parse_order(line, line=9)
    except InvalidOrderError as error:
        assert "line 9" in str(error)
