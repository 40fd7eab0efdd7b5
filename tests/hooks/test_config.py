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
        # The prefix of every documented endpoint means the bare base URL, not /v1/v1/...
        ("https://api.voucherify.io/v1", None, "https://api.voucherify.io"),
        ("https://api.voucherify.io/v1/", None, "https://api.voucherify.io"),
        ("us1.api.voucherify.io/v1", None, "https://us1.api.voucherify.io"),
        ("http://127.0.0.1:8000/v1", None, "http://127.0.0.1:8000"),
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


def _settings(**extra: object) -> ClientSettings:
    return ClientSettings.from_connection(host="api", port=None, login="id", password="t", extra=extra)


@pytest.mark.parametrize(
    ("extra", "field", "reason"),
    [
        ({"timeout": 0}, "timeout", "greater than 0"),
        ({"timeout": -1}, "timeout", "greater than 0"),
        ({"max_retries": 2.7}, "max_retries", "fractional part"),
        ({"max_retries": -1}, "max_retries", "greater than or equal to 0"),
        ({"max_retries": True}, "max_retries", "not true/false"),
        ({"retry_backoff": "soon"}, "retry_backoff", "valid number"),
        ({"max_rate_limit_wait": -5}, "max_rate_limit_wait", "greater than or equal to 0"),
    ],
)
def test_invalid_extras_are_refused_naming_the_field(
    extra: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(ConnectionConfigError, match=f"Connection extra '{field}'.*{reason}"):
        _settings(**extra)


def test_extras_from_a_connection_uri_arrive_as_strings_and_are_read() -> None:
    settings = _settings(max_retries="3", retry_backoff="0.5", max_rate_limit_wait="120", timeout="")
    assert (settings.max_retries, settings.backoff, settings.max_rate_limit_wait) == (3, 0.5, 120.0)
    assert settings.timeout == 30.0  # an empty form field means the default
    assert isinstance(settings.max_retries, int)


def test_max_rate_limit_wait_defaults_to_a_minute() -> None:
    assert _settings().max_rate_limit_wait == 60.0


def test_an_unknown_extra_is_named_with_the_closest_known_one() -> None:
    settings = _settings(max_retry=3)
    assert settings.max_retries == 5  # the typo is not read as max_retries
    assert settings.unknown_extras is not None
    assert "'max_retry' (did you mean 'max_retries'?)" in settings.unknown_extras
    assert _settings(timeout=5).unknown_extras is None


def test_missing_credentials_are_named() -> None:
    with pytest.raises(ConnectionConfigError, match="Application ID"):
        ClientSettings.from_connection(host="api", port=None, login=None, password="t", extra={})


def test_token_is_not_in_repr() -> None:
    settings = ClientSettings.from_connection(
        host="api", port=None, login="id", password="s3cr3t-token", extra={}
    )
    assert "s3cr3t-token" not in repr(settings)
