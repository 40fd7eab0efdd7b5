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
# The connection's fields that travel as header values, with the names a user knows them by.
HEADER_FIELDS = {
    "login": "Application ID (the connection's login)",
    "password": "App Token (the Secret Key, the connection's password)",
}
_CHARACTER_NAMES = {"\n": "a line feed", "\r": "a carriage return", "\t": "a tab", " ": "a space"}


def _describe_character(char: str) -> str:
    """What a character is, by its kind and code point: never the value it belongs to."""
    if char in _CHARACTER_NAMES:
        kind = _CHARACTER_NAMES[char]
    elif char.isspace():
        kind = "a whitespace character"
    elif not char.isprintable():
        kind = "a control character"
    else:
        kind = "a non-ASCII character"
    return f"{kind} (U+{ord(char):04X})"


def header_value(field: str, value: str, found: list[str]) -> str:
    """``value`` as an HTTP header can carry it: surrounding whitespace stripped (``found`` gets a
    warning naming the field), anything else but visible ASCII refused.

    No Voucherify key holds anything but visible ASCII, and a header cannot carry a control
    character: such a value fails here, before any request, naming the field and the character's
    kind and position, never the value (a message quoting a malformed token would print it where
    Airflow's secret masker does not recognise it, e.g. with ``\\n`` for a line break).

    :raises ConnectionConfigError: for a character other than visible ASCII inside the value
    """
    label = HEADER_FIELDS[field]
    stripped = value.strip()
    if stripped != value:
        around = value[: len(value) - len(value.lstrip())] + value[len(value.rstrip()) :]
        removed = ", ".join(sorted({_describe_character(char) for char in around}))
        found.append(
            f"the {label} had whitespace around it ({removed}), removed: fix the stored secret "
            "(a secrets backend or a pasted value often adds a line break)"
        )
    for position, char in enumerate(stripped, start=1):
        if not "!" <= char <= "~":
            raise ConnectionConfigError(
                f"The {label} holds {_describe_character(char)} at character {position} of "
                f"{len(stripped)}: a Voucherify key is visible ASCII only, and an HTTP header cannot "
                "carry control characters. Copy it again from the project's settings"
            )
    if not stripped:
        raise ConnectionConfigError(f"The {label} is empty (only whitespace)")
    return stripped


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _bracketed(host: str) -> str:
    """``host`` with an IPv6 address written bare (``::1``, as Airflow's connection URIs give it)
    put in brackets, as URLs write it (``[::1]``); any other host unchanged."""
    if "://" in host or host.startswith("[") or host.count(":") < 2:
        return host
    try:
        return f"[{ipaddress.IPv6Address(host)}]"
    except ValueError:
        raise ConnectionConfigError(
            f"Voucherify host {host!r} is not a base URL, host name or cluster alias (write an IPv6 "
            "address in brackets when it has a port: [::1]:8000 or http://[::1]:8000)"
        ) from None


def resolve_base_url(host: str | None, port: int | None = None) -> str:
    """The base URL for a connection's host field.

    Accepts a cluster alias (``api``, ``us1.api``, ``as1.api``), a bare host name (https is
    assumed), an IPv4 or IPv6 address (``::1``, ``[::1]``, ``[::1]:8000``) or a full URL, with or
    without the API's ``/v1`` path (``https://api.voucherify.io/v1`` is
    ``https://api.voucherify.io``). Plain ``http://`` is refused unless the host is loopback,
    where the local emulator runs: an App Token must never cross a network in clear text.
    """
    host = (host or "api").strip()
    if host.rstrip("/") in CLUSTERS:
        return CLUSTERS[host.rstrip("/")]
    host = _bracketed(host)
    parts = urlsplit(host if "://" in host else f"https://{host}")
    try:
        given_port = parts.port
    except ValueError:
        given_port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or given_port == -1:
        raise ConnectionConfigError(f"Voucherify host {host!r} is not a base URL, host name or cluster alias")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConnectionConfigError(
            f"Refusing plain http:// for {parts.hostname}: the App Token would travel unencrypted. "
            "Use https:// (plain http is allowed for loopback hosts only, e.g. the local emulator)."
        )
    netloc = parts.netloc if (given_port or not port) else f"{parts.netloc}:{port}"
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
    :param cleaned: what was stripped from the Application ID and App Token (the hook warns;
        names fields, never values)
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
    cleaned: tuple[str, ...] = ()

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
        cleaned: list[str] = []
        app_id = header_value("login", login, cleaned)
        app_token = header_value("password", password, cleaned)
        try:
            extras = ConnectionExtras.from_extra(extra)
        except ValueError as exc:
            raise ConnectionConfigError(str(exc)) from None
        return cls(
            base_url=resolve_base_url(host, port),
            app_id=app_id,
            app_token=app_token,
            timeout=timeout if timeout is not None else extras.timeout,
            max_retries=max_retries if max_retries is not None else extras.max_retries,
            backoff=extras.retry_backoff,
            verify_tls=extras.verify_tls,
            max_rate_limit_wait=(
                max_rate_limit_wait if max_rate_limit_wait is not None else extras.max_rate_limit_wait
            ),
            share_list_calls=extras.share_list_calls,
            unknown_extras=extras.describe_unknown(),
            cleaned=tuple(cleaned),
        )

    def warnings(self, conn_id: str) -> list[str]:
        """What the hook warns about when it reads the connection ``conn_id`` (never a secret)."""
        found = [f"Connection {conn_id!r}: {cleaned}" for cleaned in self.cleaned]
        if self.unknown_extras:
            found.append(f"Connection {conn_id!r}: {self.unknown_extras}")
        if not self.verify_tls:
            found.append(
                f"TLS certificate verification is OFF for connection {conn_id!r} (extra verify_tls=false): "
                "the App Token can be intercepted. Use it only against a test server."
            )
        return found
