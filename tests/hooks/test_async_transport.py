"""The async poll path sends on the client's transport (not ``AsyncClient.send``): it must still
go through the proxy the environment names, decode compressed answers, map transport errors to
the retry rules and log httpx's request line. Real HTTP throughout: a scripted origin server and
a forwarding proxy, both in-process."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_voucherify.exceptions import VoucherifyTransportError
from airflow_provider_voucherify.hooks import _async_send
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.models import ActionStatus
from tests.hooks.conftest import TOKEN
from tests.hooks.forward_proxy import ForwardProxy
from tests.hooks.scripted_server import Reply, ScriptedServer

ACTION = {"id": "aa_1", "type": "ORDERS.IMPORT", "status": "IN_PROGRESS", "progress": 40}
PAGE = {"object": "list", "async_actions": [ACTION, {**ACTION, "id": "aa_2"}], "has_more": False}
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    forward = ForwardProxy()
    yield forward
    forward.close()


@pytest.fixture(autouse=True)
def no_proxy_from_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the proxy variables it needs; none leaks in from the machine running it."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def poll_twice() -> tuple[Any, Any]:
    """One poll of each kind on the async path: GET by id, then a list page."""

    async def run() -> tuple[Any, Any]:
        hook = VoucherifyHook()
        try:
            return await hook.aget_async_action("aa_1"), await hook.alist_async_actions(ids={"aa_2"})
        finally:
            await hook.aclose()

    return asyncio.run(run())


def test_polls_go_through_the_proxy_the_environment_names(
    conn_env: ScriptedServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    conn_env.script(Reply(200, ACTION), Reply(200, PAGE))

    action, listed = poll_twice()

    assert action.progress == 40
    assert [entry.id for entry in listed] == ["aa_2"]
    assert proxy.forwarded == [
        f"{conn_env.url}/v1/async-actions/aa_1",
        f"{conn_env.url}/v1/async-actions?limit=100",
    ]
    assert [seen.headers["X-App-Token"] for seen in conn_env.seen] == [TOKEN, TOKEN]


def test_no_proxy_sends_straight_to_the_server(
    conn_env: ScriptedServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    conn_env.script(Reply(200, ACTION), Reply(200, PAGE))

    action, _ = poll_twice()

    assert action.id == "aa_1"
    assert proxy.forwarded == []
    assert len(conn_env.seen) == 2


def test_without_the_transport_choice_polls_go_through_the_client(
    conn_env: ScriptedServer,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Should httpx stop exposing which transport serves a URL, the client sends (proxy kept)."""
    monkeypatch.setattr(_async_send, "_PICK_TRANSPORT", None)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    conn_env.script(Reply(200, ACTION), Reply(200, PAGE))
    caplog.set_level(logging.INFO, logger="httpx")

    action, listed = poll_twice()

    assert (action.id, [entry.id for entry in listed]) == ("aa_1", ["aa_2"])
    assert len(proxy.forwarded) == 2
    assert len([r for r in caplog.records if r.name == "httpx"]) == 2, "one request line each, not two"
    assert "has no AsyncClient._transport_for_url" in caplog.text, "the slower path says so"


def test_httpx_still_names_the_transport_that_serves_a_url() -> None:
    """The poll path relies on httpx's private ``AsyncClient._transport_for_url`` (no public API
    says which transport, the client's or a proxy's, serves a URL): this fails loudly on an httpx
    release that drops or changes it, rather than polls silently taking the slower path."""
    pick = _async_send._PICK_TRANSPORT
    assert pick is not None, f"httpx {httpx.__version__} dropped AsyncClient._transport_for_url"
    own, proxied = httpx.AsyncHTTPTransport(), httpx.AsyncHTTPTransport()
    client = httpx.AsyncClient(transport=own, mounts={"http://proxied.example": proxied})
    assert pick(client, httpx.URL("http://proxied.example/v1/async-actions")) is proxied
    assert pick(client, httpx.URL("https://api.voucherify.io/v1/async-actions")) is own


def test_the_transport_path_costs_less_cpu_than_the_clients_send() -> None:
    """Why the private method is worth it: one poll's answer, sent and read 2,000 times each way
    (no network: httpx's MockTransport), costs clearly less CPU on the transport path."""
    body = json.dumps(PAGE).encode()
    client = httpx.AsyncClient(
        base_url="https://api.voucherify.io",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)),
    )
    request, transport = _async_send.PreparedRequests().get(client, "GET", "/v1/async-actions", None)

    async def cpu_of(send: Callable[[], Awaitable[httpx.Response]]) -> float:
        started = time.process_time()
        for _ in range(2000):
            (await send()).json()
        return time.process_time() - started

    async def both() -> tuple[float, float]:
        return await cpu_of(lambda: _async_send.asend(request, transport)), await cpu_of(
            lambda: client.send(request)
        )

    on_transport, through_client = asyncio.run(both())
    assert on_transport < 0.8 * through_client, (on_transport, through_client)


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
@pytest.mark.parametrize("through_proxy", [False, True], ids=["direct", "proxy"])
def test_a_compressed_answer_is_decoded(
    conn_env: ScriptedServer,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    encoding: str,
    compress: Callable[[bytes], bytes],
    through_proxy: bool,
) -> None:
    if through_proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
    conn_env.script(
        *(
            Reply(200, content=compress(json.dumps(body).encode()), headers={"Content-Encoding": encoding})
            for body in (ACTION, PAGE)
        )
    )

    action, listed = poll_twice()

    assert (action.id, action.status, action.progress) == ("aa_1", ActionStatus.IN_PROGRESS, 40)
    assert [(entry.id, entry.progress) for entry in listed] == [("aa_2", 40)]
    assert all(encoding in seen.headers["Accept-Encoding"] for seen in conn_env.seen)
    assert len(proxy.forwarded) == (2 if through_proxy else 0)


def test_the_request_line_is_logged_as_httpx_logs_it(
    conn_env: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    conn_env.script(Reply(200, ACTION), Reply(200, ACTION))
    caplog.set_level(logging.INFO, logger="httpx")

    VoucherifyHook().get_async_action("aa_1")  # the sync path: httpx's Client logs the line
    sync_lines = len(caplog.records)
    conn_env.script(Reply(200, PAGE))
    poll_twice()

    lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    url = f"{conn_env.url}/v1/async-actions"
    assert lines == [
        f'HTTP Request: GET {url}/aa_1 "HTTP/1.1 200 OK"',
        f'HTTP Request: GET {url}/aa_1 "HTTP/1.1 200 OK"',
        f'HTTP Request: GET {url}?limit=100 "HTTP/1.1 200 OK"',
    ]
    assert sync_lines == 1
    assert TOKEN not in caplog.text


def run_async(call: Callable[[VoucherifyHook], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        hook = VoucherifyHook()
        try:
            return await call(hook)
        finally:
            await hook.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("through_proxy", [False, True], ids=["direct", "proxy"])
def test_a_lost_answer_is_retried(
    conn_env: ScriptedServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, through_proxy: bool
) -> None:
    if through_proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
    conn_env.script(Reply(drop=True), Reply(200, ACTION))

    action = run_async(lambda hook: hook.aget_async_action("aa_1"))

    assert action.id == "aa_1"
    assert len(conn_env.seen) == 2


def test_a_read_timeout_is_retried(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(200, PAGE, delay=1.5), Reply(200, PAGE))  # the connection's timeout is 1 s

    listed = run_async(lambda hook: hook.alist_async_actions(ids={"aa_1"}))

    assert [entry.id for entry in listed] == ["aa_1"]
    assert len(conn_env.seen) == 2


def test_an_unreachable_proxy_is_a_transport_error_retried_then_raised(
    conn_env: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = ForwardProxy()
    closed.close()  # nothing listens there now
    monkeypatch.setenv("HTTP_PROXY", closed.url)

    with pytest.raises(VoucherifyTransportError, match="ConnectError") as raised:
        run_async(lambda hook: hook.aget_async_action("aa_1"))

    assert conn_env.seen == []
    assert f"{conn_env.url}/v1/async-actions/aa_1" in str(raised.value)
    assert TOKEN not in str(raised.value)
