"""A host that answers 200 with an HTML page (the dashboard's address, a captive proxy) is one
clear error naming the URL and what the host probably is, raised at once: not a parser's error,
and never retried."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_voucherify import VoucherifyNotApiError
from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.error_policy import retry_cannot_cure, waiting_can_cure
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor, WaitingCannotCure
from tests.airflow_helpers import point_connection
from tests.hooks.scripted_server import Reply, ScriptedServer

CALLS = {
    "import_orders": (
        "POST /v1/orders/import",
        "/v1/orders/import",
        lambda h: h.import_orders([{"source_id": "o-1"}]),
    ),
    "get_async_action": (
        "GET /v1/async-actions/{id}",
        "/v1/async-actions/aa_1",
        lambda h: h.get_async_action("aa_1"),
    ),
    "list_async_actions": (
        "GET /v1/async-actions",
        "/v1/async-actions?limit=1",
        lambda h: h.list_async_actions(1),
    ),
    "get_order": ("GET /v1/orders/{id}", "/v1/orders/o-1", lambda h: h.get_order("o-1")),
    "get_metadata_schema": (
        "GET /v1/metadata-schemas/{resource}",
        "/v1/metadata-schemas/order",
        lambda h: h.get_metadata_schema("order"),
    ),
}


def assert_names_the_wrong_host(error: VoucherifyNotApiError, endpoint: str, url: str) -> None:
    message = str(error)
    assert message.startswith(f"{endpoint} answered 200 with an HTML page titled 'Voucherify Dashboard'")
    assert "not the API's JSON" in message
    assert "https://api.voucherify.io" in message
    assert f"url={url}" in message
    assert "connection 'voucherify_default'" in message
    assert error.__cause__ is None
    assert error.__context__ is None


@pytest.mark.parametrize("call", list(CALLS))
def test_an_html_page_is_one_clear_error_and_not_retried(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    point_connection(monkeypatch, emulator, max_retries=3)
    emulator.set_faults(html_page=True)
    endpoint, path, run = CALLS[call]

    with pytest.raises(VoucherifyNotApiError) as caught:
        run(VoucherifyHook())

    assert_names_the_wrong_host(caught.value, endpoint, f"{emulator.url}{path}")
    assert emulator.stats()["total_requests"] == 1
    assert retry_cannot_cure(caught.value)
    assert not waiting_can_cure(caught.value)


@pytest.mark.parametrize("call", ["aget_async_action", "alist_async_actions"])
def test_the_async_twins_say_the_same(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    point_connection(monkeypatch, emulator, max_retries=3)
    emulator.set_faults(html_page=True)

    async def run() -> object:
        hook = VoucherifyHook()
        try:
            if call == "aget_async_action":
                return await hook.aget_async_action("aa_1")
            return await hook.alist_async_actions(limit=1)
        finally:
            await hook.aclose()

    with pytest.raises(VoucherifyNotApiError) as caught:
        asyncio.run(run())

    endpoint, path, _ = CALLS[call[1:]]
    assert_names_the_wrong_host(caught.value, endpoint, f"{emulator.url}{path}")
    assert emulator.stats()["total_requests"] == 1


def test_test_connection_says_the_host_is_not_the_api(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_connection(monkeypatch, emulator)
    emulator.set_faults(html_page=True)

    ok, message = VoucherifyHook().test_connection()

    assert not ok
    assert "HTML page" in message
    assert "not the API's JSON" in message


def test_a_sensor_with_soft_fail_fails_on_a_web_page(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_connection(monkeypatch, emulator)
    emulator.set_faults(html_page=True)
    sensor = AsyncActionSensor(task_id="wait", async_action_ids=["aa_1"], deferrable=True, soft_fail=True)

    with pytest.raises(WaitingCannotCure, match="HTML page"):
        sensor.execute({})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reply", "described"),
    [
        (
            Reply(200, content=b"Welcome to the hotel Wi-Fi", headers={"Content-Type": "text/plain"}),
            "26 bytes of text/plain",
        ),
        (Reply(200, content=b"<html><body>Sign in</body></html>"), "an HTML page:"),
        (Reply(200, content=b""), "0 bytes of application/json"),
    ],
)
def test_other_answers_that_are_not_json_are_named_too(
    conn_env: ScriptedServer, reply: Reply, described: str
) -> None:
    conn_env.script(reply)

    with pytest.raises(VoucherifyNotApiError, match=described):
        VoucherifyHook().list_async_actions(limit=1)
    assert len(conn_env.seen) == 1


def test_the_api_json_passes(conn_env: ScriptedServer) -> None:
    conn_env.script(
        Reply(200, {"async_actions": []}, headers={"Content-Type": "application/json; charset=utf-8"})
    )
    assert VoucherifyHook().list_async_actions(limit=1) == []
