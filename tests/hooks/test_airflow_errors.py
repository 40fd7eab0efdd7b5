"""Every provider error that leaves the hook is an ``AirflowException`` too, and still itself.

``except AirflowException`` in a user's callback or ``@task`` must catch what the hook raises,
while ``except VoucherifyRateLimitError`` keeps working and nothing becomes
``AirflowFailException`` (a task retry still follows Airflow's rules).
"""

from __future__ import annotations

import json
import pickle
import socket
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_voucherify import (
    InvalidOrderError,
    VoucherifyApiError,
    VoucherifyAuthError,
    VoucherifyError,
    VoucherifyNotApiError,
    VoucherifyRateLimitError,
    VoucherifyTransportError,
    VoucherifyUnsafeRetryError,
)
from airflow_provider_voucherify.airflow_errors import AirflowException
from airflow_provider_voucherify.exceptions import ConnectionConfigError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.operators._task import AirflowFailException
from tests.hooks.scripted_server import Reply, ScriptedServer

HTML = b"<html><head><title>Voucherify Dashboard</title></head><body>Log in</body></html>"
CYCLE_SPENT = Reply(429, {"code": 429}, headers={"X-Rate-Limit-Type": "api_calls_cycle", "Retry-After": "5"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(hook: VoucherifyHook) -> Any:
    return hook.get_async_action("aa_1")


def _import_without_ids(hook: VoucherifyHook) -> Any:
    return hook.import_orders([{"status": "PAID", "amount": 100}])


CASES: list[tuple[type[Exception], list[Reply], Callable[[VoucherifyHook], Any]]] = [
    (VoucherifyApiError, [Reply(400, {"code": 400, "key": "invalid_payload"})], _get),
    (VoucherifyAuthError, [Reply(401, {"code": 401, "key": "unauthorized"})], _get),
    (VoucherifyRateLimitError, [CYCLE_SPENT], _get),
    (VoucherifyNotApiError, [Reply(200, content=HTML, headers={"Content-Type": "text/html"})], _get),
    (VoucherifyUnsafeRetryError, [Reply(500, {"code": 500})], _import_without_ids),
    (InvalidOrderError, [], lambda hook: hook.import_orders([{"source_id": "o-1", "amount": "lots"}])),
]


def _connect(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    conn = {"conn_type": "voucherify", "host": host, "login": "app-id-1", "password": "tok-airflow-errors"}
    conn["extra"] = {"timeout": 1, "max_retries": 0, "retry_backoff": 0.01}  # type: ignore[assignment]
    monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", json.dumps(conn))


def _caught(call: Callable[[VoucherifyHook], Any]) -> Exception:
    try:
        call(VoucherifyHook())
    except AirflowException as exc:  # what a user's callback writes
        return exc
    pytest.fail("the hook raised nothing an `except AirflowException` catches")


@pytest.mark.parametrize(("error", "replies", "call"), CASES, ids=[case[0].__name__ for case in CASES])
def test_except_airflow_exception_catches_each_api_error(
    server: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
    error: type[Exception],
    replies: list[Reply],
    call: Callable[[VoucherifyHook], Any],
) -> None:
    _connect(monkeypatch, server.url)
    server.script(*replies)
    exc = _caught(call)
    assert type(exc).__name__ == error.__name__
    assert isinstance(exc, error)
    assert not isinstance(exc, AirflowFailException)


def test_except_airflow_exception_catches_no_answer_and_a_bad_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _connect(monkeypatch, f"http://127.0.0.1:{_free_port()}")
    assert isinstance(_caught(_get), VoucherifyTransportError)
    _connect(monkeypatch, "ftp://example.com")
    assert isinstance(_caught(_get), ConnectionConfigError)


def test_a_flavoured_error_keeps_its_attributes_and_pickles(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _connect(monkeypatch, server.url)
    server.script(CYCLE_SPENT)
    exc = _caught(_get)
    assert isinstance(exc, VoucherifyRateLimitError)
    assert exc.limit_type == "api_calls_cycle"
    assert exc.status_code == 429
    assert "api_calls_cycle" in str(exc)
    flavour = type(exc)
    assert pickle.loads(pickle.dumps(flavour)) is flavour
    assert issubclass(flavour, VoucherifyError)
