"""Connection → client settings: host forms, plain-http refusal, extras."""

from __future__ import annotations

import pytest

from airflow_provider_voucherify.hooks._config import ClientSettings, ConnectionConfigError, resolve_base_url


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "https://api.voucherify.io"),
        ("api", None, "https://api.voucherify.io"),
        ("us1.api", None, "https://us1.api.voucherify.io"),
        ("as1.api", None, "https://as1.api.voucherify.io"),
        ("api.voucherify.io", None, "https://api.voucherify.io"),
        ("https://us1.api.voucherify.io/", None, "https://us1.api.voucherify.io"),
        ("eu.example.com", 8443, "https://eu.example.com:8443"),
        ("http://127.0.0.1:8000", None, "http://127.0.0.1:8000"),
        ("http://localhost:8000", None, "http://localhost:8000"),
        ("http://[::1]:8000", None, "http://[::1]:8000"),
        # The UI's Test button sends port 0 for "no port"; a cluster alias keeps its own URL.
        ("api.voucherify.io", 0, "https://api.voucherify.io"),
        ("us1.api", 443, "https://us1.api.voucherify.io"),
        ("http://127.0.0.1", 8000, "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000", 9000, "http://127.0.0.1:8000"),
    ],
)
def test_host_forms(host: str | None, port: int | None, expected: str) -> None:
    assert resolve_base_url(host, port) == expected


@pytest.mark.parametrize("host", ["http://api.voucherify.io", "http://10.0.0.5:8000", "http://example.com"])
def test_plain_http_is_refused_off_loopback(host: str) -> None:
    with pytest.raises(ConnectionConfigError, match="Refusing plain http"):
        resolve_base_url(host)


@pytest.mark.parametrize("host", ["ftp://example.com", "https://"])
def test_nonsense_hosts_are_refused(host: str) -> None:
    with pytest.raises(ConnectionConfigError):
        resolve_base_url(host)


def test_extras_are_read_and_validated() -> None:
    settings = ClientSettings.from_connection(
        host="api",
        port=None,
        login="id",
        password="token",
        extra={"timeout": "12.5", "max_retries": 2, "verify_tls": "false"},
    )
    assert (settings.timeout, settings.max_retries, settings.verify_tls) == (12.5, 2, False)
    with pytest.raises(ConnectionConfigError, match="timeout"):
        ClientSettings.from_connection(host="api", port=None, login="i", password="t", extra={"timeout": "x"})
    with pytest.raises(ConnectionConfigError, match="verify_tls"):
        ClientSettings.from_connection(
            host="api", port=None, login="i", password="t", extra={"verify_tls": "maybe"}
        )


def test_missing_credentials_are_named() -> None:
    with pytest.raises(ConnectionConfigError, match="Application ID"):
        ClientSettings.from_connection(host="api", port=None, login=None, password="t", extra={})


def test_token_is_not_in_repr() -> None:
    settings = ClientSettings.from_connection(
        host="api", port=None, login="id", password="s3cr3t-token", extra={}
    )
    assert "s3cr3t-token" not in repr(settings)
