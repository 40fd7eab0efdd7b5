"""The hook's httpx clients: their options (base URL, App Id / Token headers, timeouts, TLS) and
the connection pool of the async one."""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx

from airflow_provider_voucherify import __version__
from airflow_provider_voucherify.hooks._config import ClientSettings

USER_AGENT = f"airflow-provider-voucherify/{__version__} httpx/{httpx.__version__}"
# The async client (the trigger's) keeps idle connections this long (httpx's default is 5 s): a
# wait polling every 30 s or so reuses its connection instead of resolving the host, connecting
# and, over HTTPS, negotiating TLS again every poll. One the server closed meanwhile is dropped
# before use (a GET is retried).
KEEPALIVE_EXPIRY = 60.0
# httpx's defaults, but for how long an idle connection is kept: see KEEPALIVE_EXPIRY.
ASYNC_LIMITS = httpx.Limits(
    max_connections=100, max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_EXPIRY
)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every client: building one costs ~20 ms of CPU and ~800 KiB,
    which a triggerer running hundreds of AsyncActionTriggers would pay once per trigger."""
    return httpx.create_ssl_context()


def client_options(settings: ClientSettings) -> dict[str, Any]:
    """The keyword arguments of ``httpx.Client`` / ``httpx.AsyncClient`` for ``settings``."""
    return {
        "base_url": settings.base_url,
        "headers": {
            "X-App-Id": settings.app_id,
            "X-App-Token": settings.app_token,
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        },
        "timeout": httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)),
        "verify": tls_context() if settings.verify_tls else False,
    }
