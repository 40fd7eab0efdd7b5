"""Errors of API calls name the resolved URL and the connection id (never the token), and
``test_connection()`` tries once: no retries, at most one timeout."""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_voucherify import VoucherifyAuthError, VoucherifyTransportError
from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from tests.airflow_helpers import point_connection
from tests.hooks.conftest import TOKEN
from tests.hooks.scripted_server import Reply, ScriptedServer

LIST_ONE = "/v1/async-actions?limit=1"


def closed_port_connection(monkeypatch: pytest.MonkeyPatch, **extra: object) -> str:
    """Point ``voucherify_default`` at a port nothing listens on; returns its base URL."""
    srv = ScriptedServer()
    url = srv.url
    srv.close()
    conn = {"conn_type": "voucherify", "host": url, "login": "app-id-1", "password": TOKEN, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", json.dumps(conn))
    return url


def test_a_refused_connection_names_the_url_and_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    url = closed_port_connection(monkeypatch, max_retries=1, retry_backoff=0.01)

    with pytest.raises(VoucherifyTransportError) as error:
        VoucherifyHook().import_orders([{"source_id": "o-1"}])

    message = str(error.value)
    assert message.startswith("POST /v1/orders/import: ConnectError")
    assert f"url={url}/v1/orders/import" in message
    assert "connection 'voucherify_default'" in message
    assert (error.value.url, error.value.conn_id) == (f"{url}/v1/orders/import", "voucherify_default")
    assert TOKEN not in message


def test_an_api_error_names_the_url_and_the_connection(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_connection(monkeypatch, emulator, password=TOKEN)

    with pytest.raises(VoucherifyAuthError) as error:
        VoucherifyHook().get_async_action("aa_1")

    assert f"(url={emulator.url}/v1/async-actions/aa_1, connection 'voucherify_default')" in str(error.value)
    assert TOKEN not in str(error.value)


def test_test_connection_does_not_retry_and_names_what_it_tried(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(503, {"code": 503}), Reply(200, {"async_actions": []}))

    ok, message = VoucherifyHook().test_connection()

    assert not ok
    assert len(conn_env.seen) == 1  # the connection's max_retries=3 is not used
    assert f"{conn_env.url}{LIST_ONE}" in message
    assert "connection 'voucherify_default'" in message
    assert "503" in message
    assert TOKEN not in message


def test_test_connection_waits_for_one_timeout_at_most(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(200, {"async_actions": []}, delay=3))  # the connection's timeout is 1 s

    started = time.monotonic()
    ok, message = VoucherifyHook().test_connection()

    assert time.monotonic() - started < 2.5
    assert not ok
    assert "ReadTimeout" in message
    assert len(conn_env.seen) == 1


def test_test_connection_to_nothing_names_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    url = closed_port_connection(monkeypatch, max_retries=5, retry_backoff=1)

    started = time.monotonic()
    ok, message = VoucherifyHook().test_connection()

    assert time.monotonic() - started < 1  # five retries with backoff would take far longer
    assert not ok
    assert f"Tried {url}{LIST_ONE} with connection 'voucherify_default'" in message
    assert "ConnectError" in message


def test_test_connection_of_a_missing_connection_names_it() -> None:
    ok, message = VoucherifyHook("no_such_voucherify_conn").test_connection()

    assert not ok
    assert "connection 'no_such_voucherify_conn'" in message


def test_test_connection_success_names_the_project(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(200, {"object": "list", "async_actions": [], "has_more": False}))

    ok, message = VoucherifyHook().test_connection()

    assert ok
    assert message == f"Connected to {conn_env.url} as application app-id-1 (connection 'voucherify_default')"
