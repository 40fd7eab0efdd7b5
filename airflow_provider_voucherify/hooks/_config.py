"""From an Airflow connection to the settings of an HTTP client: pure, no I/O."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

CLUSTERS = {
    "api": "https://api.voucherify.io",
    "us1.api": "https://us1.api.voucherify.io",
    "as1.api": "https://as1.api.voucherify.io",
}
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_BACKOFF = 1.0
# The longest sleep on one 429: a minute window is slept through, an hourly bulk window is not.
DEFAULT_MAX_RATE_LIMIT_WAIT = 60.0


class ConnectionConfigError(ValueError):
    """The connection cannot be used as it is (bad host, missing credentials, bad extra)."""


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def resolve_base_url(host: str | None, port: int | None = None) -> str:
    """The base URL for a connection's host field.

    Accepts a cluster alias (``api``, ``us1.api``, ``as1.api``), a bare host name (https is
    assumed) or a full URL. Plain ``http://`` is refused unless the host is loopback, where the
    local emulator runs: an App Token must never cross a network in clear text.
    """
    host = (host or "api").strip()
    if host.rstrip("/") in CLUSTERS:
        return CLUSTERS[host.rstrip("/")]
    parts = urlsplit(host if "://" in host else f"https://{host}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectionConfigError(f"Voucherify host {host!r} is not a base URL, host name or cluster alias")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConnectionConfigError(
            f"Refusing plain http:// for {parts.hostname}: the App Token would travel unencrypted. "
            "Use https:// (plain http is allowed for loopback hosts only, e.g. the local emulator)."
        )
    netloc = parts.netloc if (parts.port or not port) else f"{parts.netloc}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


def _number(extra: dict[str, Any], key: str, default: float) -> float:
    value = extra.get(key)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConnectionConfigError(f"Connection extra {key!r} must be a number, got {value!r}") from None
    if number < 0:
        raise ConnectionConfigError(f"Connection extra {key!r} must not be negative, got {value!r}")
    return number


def _flag(extra: dict[str, Any], key: str, default: bool) -> bool:
    value = extra.get(key)
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConnectionConfigError(f"Connection extra {key!r} must be true or false, got {value!r}")


@dataclass(frozen=True)
class ClientSettings:
    """Everything an HTTP client needs; the token is kept out of ``repr``."""

    base_url: str
    app_id: str
    app_token: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    backoff: float = DEFAULT_BACKOFF
    verify_tls: bool = True
    max_rate_limit_wait: float = DEFAULT_MAX_RATE_LIMIT_WAIT

    @classmethod
    def from_connection(
        cls,
        *,
        host: str | None,
        port: int | None,
        login: str | None,
        password: str | None,
        extra: dict[str, Any],
        timeout: float | None = None,
        max_retries: int | None = None,
        max_rate_limit_wait: float | None = None,
    ) -> ClientSettings:
        if not login or not password:
            raise ConnectionConfigError(
                "The Voucherify connection needs the Application ID (login) and the Secret Key (password)"
            )
        return cls(
            base_url=resolve_base_url(host, port),
            app_id=login,
            app_token=password,
            timeout=timeout if timeout is not None else _number(extra, "timeout", DEFAULT_TIMEOUT),
            max_retries=(
                max_retries
                if max_retries is not None
                else int(_number(extra, "max_retries", DEFAULT_MAX_RETRIES))
            ),
            backoff=_number(extra, "retry_backoff", DEFAULT_BACKOFF),
            verify_tls=_flag(extra, "verify_tls", True),
            max_rate_limit_wait=(
                max_rate_limit_wait
                if max_rate_limit_wait is not None
                else _number(extra, "max_rate_limit_wait", DEFAULT_MAX_RATE_LIMIT_WAIT)
            ),
        )
