"""The trigger's request path: GET requests built once and sent on the client's transport.

A triggerer runs hundreds of waits in one event loop and each polls the same few URLs every
cycle, so the per-request CPU of the HTTP stack is what it pays most; this module keeps that to
what a poll needs without changing what goes over the wire.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

# Built GET requests an async client keeps for reuse: a waiting trigger asks for the same few
# URLs every poll (one per action it GETs, one per list window), so a small cache holds them all.
MAX_PREPARED_REQUESTS = 64
# httpx's own logger: the async path logs its request line there, as httpx's Client would.
_HTTPX_LOG = logging.getLogger("httpx")
# Which of a client's transports (its own, or a proxy's from HTTP(S)_PROXY / ALL_PROXY / NO_PROXY)
# serves a URL: httpx has no public way to ask, so this is the client's own (private) choice,
# unchanged from httpx 0.18 to 0.29. Kept for its cost: sending through the public
# `AsyncClient.send` instead adds about 100 us of CPU to every poll (tests/hooks/
# test_async_transport.py measures both, and fails when an httpx release drops the method).
# Were it gone, requests go through the client (_ClientTransport), with a warning.
_PICK_TRANSPORT = getattr(httpx.AsyncClient, "_transport_for_url", None)
_log = logging.getLogger(__name__)


class PreparedRequests:
    """An async client's bodiless requests, each built once with the transport that carries it."""

    def __init__(self) -> None:
        self._cache: dict[
            tuple[str, str, tuple[tuple[str, Any], ...]], tuple[httpx.Request, httpx.AsyncBaseTransport]
        ] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        """Forget every request (their client is closed: a new one builds its own)."""
        self._cache.clear()

    def get(
        self, client: httpx.AsyncClient, method: str, path: str, params: Mapping[str, Any] | None
    ) -> tuple[httpx.Request, httpx.AsyncBaseTransport]:
        """``client``'s request for ``method path?params`` and the transport that carries it,
        chosen once and reused.

        Building a request (merging and re-parsing the URL, quoting the query, merging headers
        and cookies) costs as much CPU as sending it; a trigger polls the same URL every cycle.
        Only for bodiless requests, which httpx can send again as they are. The transport is the
        one ``client.send`` would pick for the URL: the client's own, or the proxy that
        ``HTTP(S)_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` select (httpx reads them once, when
        the client is made, so the choice for a URL never changes).
        """
        key = (method, path, tuple(params.items()) if params else ())
        prepared = self._cache.get(key)
        if prepared is None:
            if len(self._cache) >= MAX_PREPARED_REQUESTS:
                self._cache.clear()
            request = client.build_request(method, path, params=params)
            if _PICK_TRANSPORT is not None:
                transport = _PICK_TRANSPORT(client, request.url)
            else:
                _log.warning(
                    "httpx %s has no AsyncClient._transport_for_url: polls go through AsyncClient.send, "
                    "correct but slower (about 100 us of CPU more per poll)",
                    httpx.__version__,
                )
                transport = _ClientTransport(client)
            prepared = self._cache[key] = (request, transport)
        return prepared


async def asend(request: httpx.Request, transport: httpx.AsyncBaseTransport) -> httpx.Response:
    """``request`` sent on ``transport``, its answer read (and decoded: gzip, deflate...).

    What ``AsyncClient.send`` does, without the steps a poll never needs (skipping them cut the
    CPU of a list poll by about 10 % in the triggerer benchmark): there is no auth flow
    (the App Id / Token headers are on the prepared request), redirects are not followed
    anyway (the client's ``follow_redirects`` is off), no event hooks are set, and cookies
    the server sets would not reach the prepared request. The transport still maps
    httpcore's errors to ``httpx.TransportError``, so the retry rules see the same errors,
    and the request line is logged on httpx's logger as the client logs it.

    :raises httpx.TransportError: the request or its answer was lost (connection, timeout, proxy)
    """
    try:
        response = await transport.handle_async_request(request)
    except httpx.RequestError as exc:
        exc.request = request  # as the client does: the error names its request
        raise
    response.request = request
    try:
        await response.aread()
    except BaseException:
        await response.aclose()
        raise
    if _HTTPX_LOG.isEnabledFor(logging.INFO) and not isinstance(transport, _ClientTransport):
        _HTTPX_LOG.info(
            'HTTP Request: %s %s "%s %d %s"',
            request.method,
            request.url,
            response.http_version,
            response.status_code,
            response.reason_phrase,
        )
    return response


class _ClientTransport(httpx.AsyncBaseTransport):
    """Sends through the client itself: the fallback should httpx stop exposing its mounts."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._client.send(request, stream=True)
