"""The import endpoint's fast accept path gives every body the verdict, text and bytes of the reference.

The reference is the accept path as it was before the fast path: ``read_body``, ``validate_import``,
``canonical_lines`` and the set of ``source_id`` values, written out below from those functions.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_voucherify.emulator.bodies import canonical_lines, read_body
from airflow_provider_voucherify.emulator.fast_accept import (
    AcceptedImport,
    BodyRefusedError,
    ImportBody,
    _Item,
    _Order,
    read_import,
    reference_read_import,
)
from airflow_provider_voucherify.emulator.store import Store
from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.emulator.validation import (
    ORDER_STATUSES,
    RELATED_OBJECTS,
    parse_body,
    validate_import,
)
from tests.benchmarks._orders import client_body

Outcome = tuple[Any, ...]


def reference(raw: bytes) -> Outcome:
    """What the endpoint answered before the fast path: the verdict, the text or what is stored."""
    try:
        orders, encode = read_body(raw)
    except ValueError as exc:
        return ("refused", f"Request body is not valid JSON: {exc}")
    if problem := validate_import(orders):
        return ("refused", problem)
    source_ids = {order["source_id"] for order in orders if order.get("source_id") is not None}
    return ("accepted", len(orders), canonical_lines(orders, encode), source_ids)


def outcome(read: Any, raw: bytes) -> Outcome:
    try:
        accepted: AcceptedImport = read(raw)
    except BodyRefusedError as exc:
        return ("refused", exc.details)
    return ("accepted", accepted.order_count, accepted.canonical, accepted.source_ids)


def fast_path_accepts(raw: bytes) -> bool:
    try:
        msgspec.json.decode(raw, type=ImportBody)
    except msgspec.DecodeError:
        return False
    return True


# ---- values near the edges of the rules


def mostly(valid: st.SearchStrategy[Any], edge: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` nine times in ten: an order has a dozen fields, and most bodies should be valid."""
    # one_of draws its branches evenly (and repeating one is no help): pick the branch first.
    return st.integers(0, 9).flatmap(lambda draw: edge if draw == 0 else valid)


huge = st.sampled_from([2**53, 2**63, 2**64, 2**70, -(2**64)])
numbers = st.one_of(
    st.integers(-2, 3),
    st.integers(min_value=0, max_value=2**40),
    huge,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, 1999.0, -1.0, 12.5, 1e300]),
)
junk = st.one_of(st.none(), st.booleans(), st.text(max_size=3), st.just([]), st.just({}), numbers)
amounts = mostly(st.integers(0, 10_000), st.one_of(numbers, junk))
strings = mostly(st.one_of(st.text(max_size=5), st.sampled_from(["é", "\u2028", "\n", "a\x00"])), junk)
ARABIC_INDIC_DATE = "\u0661\u0669\u0669\u0660-\u0660\u0661-\u0661\u0665"  # \d matches these digits
dates = mostly(
    st.just("1990-01-15"),
    st.one_of(
        st.sampled_from(["1990-01-15\n", "1990-1-15", "19900115", ARABIC_INDIC_DATE, "1990-01-15T00:00", ""]),
        junk,
    ),
)
objects = mostly(
    st.dictionaries(st.text(max_size=3), st.one_of(st.integers(), st.text(max_size=3), numbers), max_size=3),
    junk,
)
extra = {"extra": junk}  # an unknown field: valid, the reference way
party = st.fixed_dictionaries(
    {},
    optional={
        "id": strings,
        "source_id": strings,
        "name": strings,
        "email": strings,
        "birthdate": dates,
        "birthday": dates,
        "address": st.one_of(st.none(), objects),
        "metadata": objects,
    },
)
catalog = st.fixed_dictionaries(
    {},
    optional={
        "id": strings,
        "source_id": strings,
        "name": strings,
        "sku": strings,
        "price": amounts,
        "override": mostly(st.booleans(), junk),
        "metadata": objects,
    },
)
item = st.fixed_dictionaries(
    {},
    optional={
        "source_id": strings,
        "related_object": mostly(st.sampled_from(RELATED_OBJECTS), st.one_of(st.just("SKU"), junk)),
        "product_id": strings,
        "sku_id": strings,
        "quantity": amounts,
        "initial_quantity": amounts,
        "discount_quantity": amounts,
        "amount": amounts,
        "price": amounts,
        "discount_amount": amounts,
        "initial_amount": amounts,
        "product": mostly(catalog, junk),
        "sku": mostly(catalog, junk),
        "metadata": objects,
        **extra,
    },
)
orders = st.fixed_dictionaries(
    {},
    optional={
        "id": strings,
        "source_id": mostly(st.one_of(st.text(max_size=5), st.none()), junk),
        "referrer_id": strings,
        "customer_id": mostly(st.none(), strings),
        "status": mostly(st.sampled_from(ORDER_STATUSES), st.one_of(st.just("paid"), junk)),
        "amount": amounts,
        "initial_amount": amounts,
        "discount_amount": amounts,
        "items": mostly(st.lists(mostly(item, junk), max_size=3), junk),
        "metadata": objects,
        "customer": mostly(party, junk),
        "referrer": mostly(party, junk),
        **extra,
    },
)
bodies = mostly(
    st.lists(orders, min_size=1, max_size=3), st.one_of(st.lists(mostly(orders, junk), max_size=3), junk)
)
# The ways a client writes JSON: compact or spaced, ASCII or UTF-8, keys in any order.
dumps = st.sampled_from(
    [
        lambda value: json.dumps(value).encode(),
        lambda value: json.dumps(value, ensure_ascii=False, indent=1).encode(),
        lambda value: json.dumps(value, separators=(",", ":"), sort_keys=True).encode(),
    ]
)


@pytest.mark.exhaustive
def test_the_fast_path_answers_every_body_as_the_reference_does() -> None:
    """Every body answered alike by both paths, and each path taken at least 100 times in the
    1,500 bodies (a guard against generating only one kind of body)."""
    paths: Counter[str] = Counter()

    @settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(bodies, dumps)
    def check(body: Any, dump: Any) -> None:
        raw = dump(body)
        expected = reference(raw)
        assert outcome(read_import, raw) == expected
        assert outcome(reference_read_import, raw) == expected
        if fast_path_accepts(raw):
            # The types are at least as strict as the rules.
            assert validate_import(parse_body(raw)) is None
            paths["fast"] += 1
        else:
            paths["reference accepted" if expected[0] == "accepted" else "refused"] += 1

    check()
    print(f"bodies by path: {dict(paths)}")
    assert all(paths[kind] >= 100 for kind in ("fast", "reference accepted", "refused")), paths


@pytest.mark.parametrize(
    ("raw", "fast"),
    [
        (b'[{"amount": -1, "amount": 5}]', False),  # a repeated key: the last one wins, each is checked
        (b'[{"amount": 5, "amount": -1}]', False),
        (b'[{"amount": 5, "amount": 6}]', True),
        (b'[{"amo\\u0075nt": -1}]', False),  # an escaped key is the key
        (b'[{"items": [{"source_id": "s", "related_object": "sku", "related_object": null}]}]', False),
        (b'[{"customer_id": null}]', True),
        (b'[{"customer_id": "c"}]', False),
        (b'[{"amount": 1999.0}]', False),  # JavaScript's integer 1999: accepted, the reference way
        (b'[{"amount": 1999e0}]', False),
        (b'[{"metadata": {"a": 1.0, "b": 1e400}}]', False),  # an infinity json writes as Infinity
        (b'[{"metadata": {"a": NaN}}]', False),
        (b'[{"metadata": {"a": "\\ud800"}}]', False),  # a lone surrogate
        (b'\xef\xbb\xbf[{"amount": 1}]', False),  # a byte-order mark
        ('[{"amount": 1}]'.encode("utf-16"), False),
        (b'[{"amount": 1}', False),
        (b"", False),
        (b"[" * 100 + b"]" * 100, False),
        (json.dumps([{"items": [{"quantity": 1}] * 501}]).encode(), False),
        (json.dumps([{"items": [{"quantity": 1}] * 500}]).encode(), True),
        (json.dumps([{"source_id": str(index)} for index in range(2001)]).encode(), False),
        (json.dumps([{"source_id": str(index)} for index in range(2000)]).encode(), True),
        (b"[]", False),
        (b"{}", False),
    ],
)
def test_edge_bodies_get_the_reference_answer(raw: bytes, fast: bool) -> None:
    assert fast_path_accepts(raw) is fast
    assert outcome(read_import, raw) == reference(raw)


def test_deep_nesting_fails_as_before() -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(RecursionError):
        reference(raw)
    with pytest.raises(RecursionError):
        read_import(raw)


def test_the_clients_bodies_take_the_fast_path_and_store_the_same_bytes() -> None:
    """Pins the stored bytes: the operator's own 2000-order body, one canonical line per order."""
    raw = client_body(2000, prefix="fast")
    assert fast_path_accepts(raw)
    expected = reference(raw)
    assert outcome(read_import, raw) == expected
    lines = expected[2].split(b"\n")
    assert len(lines) == 2000
    assert lines[0].startswith(b'{"amount":')
    assert b" " not in lines[0]


def test_every_field_takes_the_fast_path_and_stores_the_same_bytes() -> None:
    party = {
        "id": "cust_1",
        "source_id": "c-é",
        "name": "N\u2028",
        "description": "d",
        "email": "e@x",
        "phone": "1",
        "birthdate": "1990-01-15",
        "birthday": "1990-01-15",
        "address": {"city": "Zürich", "line_1": None},
        "metadata": {"z": 1.0, "a": [1, 2.5, {"y": None, "b": True}], "m": {"k": "v"}},
    }
    entry = {"id": "p", "source_id": "s", "name": "n", "price": None, "override": True, "metadata": {}}
    item = {
        "amount": 0,
        "price": 2**60,
        "discount_amount": 1,
        "initial_amount": 2,
        "quantity": 1,
        "initial_quantity": 3,
        "discount_quantity": 0,
        "sku_id": "sku_1",
        "product_id": "prod_1",
        "source_id": "s",
        "related_object": "product",
        "product": entry,
        "sku": {**entry, "sku": "k", "price": 5},
        "metadata": {"n": -0.0},
    }
    order = {
        "source_id": "o-1",
        "referrer_id": None,
        "customer_id": None,
        "id": "ord_1",
        "status": "FULFILLED",
        "amount": 10,
        "initial_amount": 11,
        "discount_amount": 1,
        "metadata": {"original_created_at": "2021-03-04T05:06:07.000Z", "x": 1e-7, "big": 2**70},
        "customer": party,
        "referrer": {"source_id": "r"},
        "items": [item, {"product_id": "prod_2"}],
    }
    # Every field the types know is in this order: a field added to the rules must be added here too.
    assert set(order) == set(_Order.__struct_fields__)
    assert set(item) == set(_Item.__struct_fields__)
    for raw in (json.dumps([order, {"source_id": None}]).encode(), json.dumps([order], indent=2).encode()):
        assert fast_path_accepts(raw)
        assert outcome(read_import, raw) == reference(raw)


def _literal(struct: Any, name: str) -> set[str]:
    field = next(field for field in msgspec.inspect.type_info(struct).fields if field.name == name)
    assert isinstance(field.type, msgspec.inspect.LiteralType)  # UNSET is no type of its own
    return set(field.type.values)


def test_the_types_name_the_same_allowed_values_as_the_rules() -> None:
    assert _literal(_Order, "status") == set(ORDER_STATUSES)
    assert _literal(_Item, "related_object") == set(RELATED_OBJECTS)


BODIES = {
    "valid, fast": json.dumps(
        [{"source_id": "http-1", "amount": 5, "items": [{"source_id": "s", "related_object": "sku"}]}]
    ),
    "valid, an integral float": json.dumps([{"source_id": "http-2", "amount": 1999.0}]),
    "valid, an unknown field": json.dumps([{"source_id": "http-3", "note": "kept"}]),
    "negative amount": json.dumps([{"source_id": "http-4", "amount": -1}]),
    "source_id without related_object": json.dumps([{"items": [{"source_id": "s", "quantity": 1}]}]),
    "customer_id": json.dumps([{"customer_id": "cust_1"}]),
    "not JSON": "[{",
    "too many items": json.dumps([{"items": [{"quantity": 1}] * 501}]),
}


@pytest.mark.parametrize("name", list(BODIES))
def test_the_endpoint_answers_as_the_reference(emulator: EmulatorServer, name: str) -> None:
    raw = BODIES[name].encode()
    assert fast_path_accepts(raw) is (name == "valid, fast")
    expected = reference(raw)
    with emulator.client() as client:
        response = client.post("/v1/orders/import", content=raw, headers={"Content-Type": "application/json"})
        if expected[0] == "refused":
            assert response.status_code == 400, response.text
            assert response.json()["details"] == expected[1]
            return
        assert response.status_code == 200, response.text
        action_id = response.json()["async_action_id"]
    action = wait_for_actions(emulator, [action_id], deadline_s=30)[action_id]
    assert action["result"]["done_count"] == expected[1], action


def test_the_received_source_ids_are_stored_as_given(tmp_path: Path) -> None:
    """The store writes a batch's source_ids in one statement (through JSON): the text is unchanged."""
    source_ids = {"plain", "é", 'quote " backslash \\ newline \n', "\u2028", "\U0001f600", "\ud800 lone"}
    store = Store(tmp_path / "emulator.db")
    try:
        store.accept_import("p", "aa_1", "r", b"{}", 1, "hash", source_ids, False)
        store.accept_import("p", "aa_2", "r", b"{}", 1, "hash", {"plain", "new"}, False)
        store.accept_import("p", "aa_3", "r", b"{}", 1, "hash", (), False)
        store.conn.text_factory = lambda raw: raw.decode("utf-8", "surrogatepass")
        rows = store.conn.execute("SELECT project, source_id FROM received_source_ids").fetchall()
    finally:
        store.close()
    assert sorted(rows) == sorted(("p", source_id) for source_id in {*source_ids, "new"})
