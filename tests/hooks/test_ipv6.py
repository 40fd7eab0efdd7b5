"""IPv6 hosts, in the forms URLs and Airflow connections write them: ``::1`` (a connection URI's
host), ``[::1]``, ``[::1]:8000``, ``http://[::1]:8000``; checked against an emulator listening on
``::1`` when the machine has IPv6 loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow.sdk import Connection

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.hooks._config import ConnectionConfigError, resolve_base_url
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("::1", None, "https://[::1]"),
        ("::1", 8000, "https://[::1]:8000"),
        ("[::1]", None, "https://[::1]"),
        ("[::1]", 8000, "https://[::1]:8000"),
        ("[::1]:8000", None, "https://[::1]:8000"),
        ("[::1]:8000/v1", None, "https://[::1]:8000"),
        ("http://[::1]:8000", None, "http://[::1]:8000"),
        ("http://[::1]", 8000, "http://[::1]:8000"),
        ("2001:db8::5", 8443, "https://[2001:db8::5]:8443"),
        ("https://[2001:db8::5]/v1", None, "https://[2001:db8::5]"),
    ],
)
def test_ipv6_host_forms(host: str, port: int | None, expected: str) -> None:
    assert resolve_base_url(host, port) == expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("voucherify://app:tok@[::1]:8000", "https://[::1]:8000"),
        ("voucherify://app:tok@%5B%3A%3A1%5D:8000", "https://[::1]:8000"),
        ("voucherify://app:tok@[2001:db8::5]", "https://[2001:db8::5]"),
    ],
)
def test_an_ipv6_connection_uri_resolves(uri: str, expected: str) -> None:
    conn = Connection.from_uri(uri, conn_id="v6")
    assert resolve_base_url(conn.host, conn.port) == expected


@pytest.mark.parametrize("host", ["http://[2001:db8::5]:8000", "http://2001:db8::5"])
def test_plain_http_is_refused_off_ipv6_loopback(host: str) -> None:
    with pytest.raises(ConnectionConfigError):
        resolve_base_url(host)


@pytest.mark.parametrize("host", ["http://::1:8000", "[::1]:port", "fe80::zz"])
def test_malformed_ipv6_hosts_are_refused_by_name(host: str) -> None:
    with pytest.raises(ConnectionConfigError, match="not a base URL"):
        resolve_base_url(host)


@pytest.fixture(scope="module")
def ipv6_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    if not has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1)")
    with EmulatorServer(
        Path(tmp_path_factory.mktemp("ipv6-emulator")), host="::1", orders_per_second=0
    ) as server:
        yield server


@pytest.mark.parametrize("form", ["url", "url without port, port field"])
def test_the_hook_reaches_an_emulator_on_ipv6_loopback(
    ipv6_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    assert ipv6_emulator.url == f"http://[::1]:{ipv6_emulator.port}"
    conn = json.loads(ipv6_emulator.conn_json)
    if form != "url":
        conn["host"], conn["port"] = "http://[::1]", ipv6_emulator.port
    monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", json.dumps(conn))
    hook = VoucherifyHook()

    action_id = hook.import_orders([{"source_id": "v6-1", "amount": 100}])
    ok, message = hook.test_connection()

    assert hook.get_async_action(action_id).id == action_id
    assert ok, message
    assert f"http://[::1]:{ipv6_emulator.port}" in message
