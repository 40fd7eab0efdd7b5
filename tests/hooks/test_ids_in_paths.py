"""Every id put into a URL path is percent-encoded as one segment (``/`` included), and ids no path
can address (``.``, ``..``, empty) are refused with the reason: by order validation (a
``source_id`` that could never be read back is an invalid record) and by the hook, before any
request. Through real HTTP against the emulator, which routes encoded ids as the API does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_voucherify import InvalidOrderError
from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.orders import parse_order
from tests.airflow_helpers import point_connection

AWKWARD = ["a/b", "a%2Fb", "50% off", "x/../y", "é/ü", "q?x=1#f", "/lead", "trail/"]
UNADDRESSABLE = {".": 'is "."', "..": 'is ".."', "": "is empty"}


def sale(source_id: str, customer: str = "c-1") -> dict[str, Any]:
    return {
        "source_id": source_id,
        "status": "PAID",
        "amount": 100,
        "customer": {"source_id": customer},
    }


@pytest.mark.parametrize("source_id", AWKWARD)
def test_an_order_is_read_back_by_a_source_id_that_is_no_safe_path_segment(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, source_id: str
) -> None:
    point_connection(monkeypatch, emulator)
    hook = VoucherifyHook()
    action_id = hook.import_orders([sale(source_id, customer=f"cust {source_id}")])
    wait_for_actions(emulator, [action_id])

    assert hook.get_order(source_id)["source_id"] == source_id
    assert hook.get_customer(f"cust {source_id}")["source_id"] == f"cust {source_id}"
    assert emulator.stats()["requests"]["GET /v1/orders/{id}"] == {"200": 1}


def test_the_emulator_routes_an_encoded_slash_as_one_segment(emulator: EmulatorServer) -> None:
    with emulator.client() as client:
        action_id = client.post("/v1/orders/import", json=[sale("a/b")]).json()["async_action_id"]
        wait_for_actions(emulator, [action_id])
        encoded = client.get("/v1/orders/a%2Fb")
        two_segments = client.get("/v1/orders/a/b")
        action = client.get(f"/v1/async-actions/{action_id}")

    assert encoded.status_code == 200
    assert encoded.json()["source_id"] == "a/b"
    assert two_segments.status_code == 404  # /v1/orders/a/b is no route of the API
    assert action.status_code == 200


CALLS: dict[str, Callable[[VoucherifyHook, str], Any]] = {
    "get_order": VoucherifyHook.get_order,
    "get_customer": VoucherifyHook.get_customer,
    "get_async_action": VoucherifyHook.get_async_action,
    "get_metadata_schema": VoucherifyHook.get_metadata_schema,
    "aget_async_action": lambda hook, key: asyncio.run(hook.aget_async_action(key)),
}


@pytest.mark.parametrize("key", list(UNADDRESSABLE), ids=repr)
@pytest.mark.parametrize("call", list(CALLS))
def test_an_id_no_path_can_address_is_refused_before_any_request(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, call: str, key: str
) -> None:
    point_connection(monkeypatch, emulator)

    with pytest.raises(ValueError, match="no URL path can address it") as caught:
        CALLS[call](VoucherifyHook(), key)

    assert UNADDRESSABLE[key] in str(caught.value)
    assert emulator.stats()["total_requests"] == 0


@pytest.mark.parametrize("key", [".", ".."], ids=repr)
@pytest.mark.parametrize(
    ("record", "path"),
    [
        (lambda key: {"source_id": key}, ".source_id"),
        (lambda key: {"source_id": "o-1", "customer": {"source_id": key}}, ".customer.source_id"),
        (lambda key: {"source_id": "o-1", "referrer": {"source_id": key}}, ".referrer.source_id"),
    ],
    ids=["order", "customer", "referrer"],
)
def test_a_source_id_that_could_never_be_read_back_is_an_invalid_order(
    record: Callable[[str], dict[str, Any]], path: str, key: str
) -> None:
    with pytest.raises(InvalidOrderError) as caught:
        parse_order(record(key), line=3)

    field, reason = caught.value.errors[0]
    assert field == path
    assert reason.startswith(f"Value error, {UNADDRESSABLE[key]}")
    assert "the API could never read it back" in str(caught.value)


def test_the_hook_refuses_such_an_order_before_the_import(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_connection(monkeypatch, emulator)

    with pytest.raises(InvalidOrderError, match=r"line 2.*source_id"):
        VoucherifyHook().import_orders([sale("fine"), sale("..")])

    assert emulator.stats()["total_requests"] == 0


def test_httpx_would_have_read_the_orders_list_for_a_dot() -> None:
    # Why "." is refused rather than encoded: every HTTP stack removes dot segments (RFC 3986),
    # and %2E is the same character.
    assert httpx.URL("http://h/v1/orders/.").path == "/v1/orders"
    assert httpx.URL("http://h/v1/orders/..").path == "/v1"
