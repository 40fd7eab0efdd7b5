"""From an Airflow connection to the settings of an HTTP client: pure, no I/O."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_voucherify.exceptions import ConnectionConfigError
from airflow_provider_voucherify.hooks._extras import (
    DEFAULT_BACKOFF,
    DEFAULT_MAX_RATE_LIMIT_WAIT,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ConnectionExtras,
)

CLUSTERS = {
    "api": "https://api.voucherify.io",
    "us1.api": "https://us1.api.voucherify.io",
    "as1.api": "https://as1.api.voucherify.io",
}
# Every documented endpoint starts with it: a host written with it means the bare base URL.
API_PATH_PREFIX = "/v1"


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
    assumed) or a full URL, with or without the API's ``/v1`` path (``https://api.voucherify.io/v1``
    is ``https://api.voucherify.io``). Plain ``http://`` is refused unless the host is loopback,
    where the local emulator runs: an App Token must never cross a network in clear text.
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
    path = parts.path.rstrip("/")
    if path.endswith(API_PATH_PREFIX):
        path = path[: -len(API_PATH_PREFIX)]
    return f"{parts.scheme}://{netloc}{path}".rstrip("/")


@dataclass(frozen=True)
class ClientSettings:
    """Everything an HTTP client needs; the token is kept out of ``repr``.

    :param max_rate_limit_wait: seconds, the longest in-process sleep on one 429
    :param share_list_calls: the triggers of this connection in one triggerer share their list calls
    :param unknown_extras: extras the connection has that nobody reads (the hook warns)
    """

    base_url: str
    app_id: str
    app_token: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    backoff: float = DEFAULT_BACKOFF
    verify_tls: bool = True
    max_rate_limit_wait: float = DEFAULT_MAX_RATE_LIMIT_WAIT
    share_list_calls: bool = True
    unknown_extras: str | None = None

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
        try:
            extras = ConnectionExtras.from_extra(extra)
        except ValueError as exc:
            raise ConnectionConfigError(str(exc)) from None
        return cls(
            base_url=resolve_base_url(host, port),
            app_id=login,
            app_token=password,
            timeout=timeout if timeout is not None else extras.timeout,
            max_retries=max_retries if max_retries is not None else extras.max_retries,
            backoff=extras.retry_backoff,
            verify_tls=extras.verify_tls,
            max_rate_limit_wait=(
                max_rate_limit_wait if max_rate_limit_wait is not None else extras.max_rate_limit_wait
            ),
            share_list_calls=extras.share_list_calls,
            unknown_extras=extras.describe_unknown(),
        )

    def warnings(self, conn_id: str) -> list[str]:
        """What the hook warns about when it reads the connection ``conn_id`` (never a secret)."""
        found = [f"Connection {conn_id!r}: {self.unknown_extras}"] if self.unknown_extras else []
        if not self.verify_tls:
            found.append(
                f"TLS certificate verification is OFF for connection {conn_id!r} (extra verify_tls=false): "
                "the App Token can be intercepted. Use it only against a test server."
            )
        return found
