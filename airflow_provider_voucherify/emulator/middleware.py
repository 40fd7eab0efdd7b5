"""The gate every API request passes: request id, faults, authentication, rate limits and counting.

Control endpoints (``/_emulator/...``) bypass it entirely: they are never faulted, limited or counted.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
from collections import Counter
from typing import Any
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_voucherify.emulator.config import Project
from airflow_provider_voucherify.emulator.faults import FaultInjector
from airflow_provider_voucherify.emulator.frontdoor import FrontDoor
from airflow_provider_voucherify.emulator.ids import request_id
from airflow_provider_voucherify.emulator.ratelimit import RateLimiter

PROJECT_KEY = "voucherify.project"
REQUEST_ID_KEY = "voucherify.request_id"
IMPORT_PATH = "/v1/orders/import"
BULK_CUSTOMERS_PATH = "/v1/customers/bulk/async"
BULK_PATHS = frozenset((IMPORT_PATH, BULK_CUSTOMERS_PATH))  # bulk calls: their own hourly budget

_TEMPLATES = (
    (re.compile(r"^/v1/orders/import$"), IMPORT_PATH),
    (re.compile(r"^/v1/orders$"), "/v1/orders"),
    (re.compile(r"^/v1/orders/[^/]+$"), "/v1/orders/{id}"),
    (re.compile(r"^/v1/async-actions$"), "/v1/async-actions"),
    (re.compile(r"^/v1/async-actions/[^/]+$"), "/v1/async-actions/{id}"),
    (re.compile(r"^/v1/customers/bulk/async$"), BULK_CUSTOMERS_PATH),
    (re.compile(r"^/v1/customers/[^/]+$"), "/v1/customers/{id}"),
    (re.compile(r"^/v1/products/[^/]+$"), "/v1/products/{id}"),
    (re.compile(r"^/v1/skus/[^/]+$"), "/v1/skus/{id}"),
    (re.compile(r"^/v1/exports$"), "/v1/exports"),
    (re.compile(r"^/v1/exports/[^/]+$"), "/v1/exports/{id}"),
    (re.compile(r"^/v1/metadata-schemas$"), "/v1/metadata-schemas"),
    (re.compile(r"^/v1/metadata-schemas/[^/]+$"), "/v1/metadata-schemas/{resource}"),
)


def one_segment_each(raw_path: bytes) -> str:
    """The request's path with each segment decoded, but a ``/`` or ``%`` inside one kept encoded
    (``/v1/orders/a%2Fb`` stays one segment, ``a/b``), as the API routes an encoded id; route
    handlers read a segment back with :func:`segment`."""
    return "/".join(
        unquote(part).replace("%", "%25").replace("/", "%2F")
        for part in raw_path.decode("latin-1").split("/")
    )


def segment(value: str) -> str:
    """A path parameter as the client meant it (``a%2Fb`` is ``a/b``): see :func:`one_segment_each`."""
    return unquote(value)


def route_template(path: str) -> str:
    """The route a path belongs to, as stats name it (``/v1/async-actions/{id}``); ``*`` if none."""
    for pattern, template in _TEMPLATES:
        if pattern.match(path):
            return template
    return "*"


def error_body(status: int, key: str, message: str, details: str, rid: str) -> bytes:
    body = {"code": status, "key": key, "message": message, "details": details, "request_id": rid}
    return json.dumps(body).encode()


class RequestCounter:
    """Counts answers per ``"METHOD /route"`` and status code since start or reset."""

    def __init__(self, initial: dict[str, dict[str, int]] | None = None) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.dropped = 0
        for route, by_status in (initial or {}).items():
            for status, count in by_status.items():
                self.counts[(route, status)] = count

    def add(self, route: str, status: int) -> None:
        self.counts[(route, str(status))] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for (route, status), count in sorted(self.counts.items()):
            table.setdefault(route, {})[status] = count
        return table

    def clear(self) -> None:
        self.counts.clear()
        self.dropped = 0


async def _drain(receive: Receive) -> None:
    """Read and discard the request body, so a client still sending a large one gets our answer."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _answer(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]], ctype: bytes
) -> None:
    head = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


_GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
)
_FAULT_TEXT = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
# What a browser-facing host answers any path with (the html_page fault): a web app's shell page.
_HTML_PAGE = (
    b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Voucherify Dashboard'
    b'</title></head><body><div id="root"></div><script src="/static/app.js"></script>'
    b"</body></html>"
)


class ApiGate:
    """Pure ASGI middleware, so a dropped answer can be cut off after its headers were sent."""

    def __init__(
        self,
        app: ASGIApp,
        projects: tuple[Project, ...],
        faults: FaultInjector,
        limiter: RateLimiter,
        counter: RequestCounter,
        front_door: FrontDoor | None = None,
    ) -> None:
        self.app = app
        self.tokens = {project.app_id: project.app_token for project in projects}
        self.faults, self.limiter, self.counter = faults, limiter, counter
        self.front_door = front_door or FrontDoor()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/_emulator/"):
            await self.app(scope, receive, send)
            return
        if scope.get("raw_path"):
            path = scope["path"] = one_segment_each(scope["raw_path"])
        with self.front_door.serving():  # the import workers wait between chunks meanwhile
            await self._serve(scope, receive, send, path)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        template = route_template(path)
        route = f"{scope['method']} {template}"
        rid = request_id()
        scope[REQUEST_ID_KEY] = rid
        rid_header = (b"x-request-id", rid.encode())
        faulted = self.faults.applies_to(path, template)
        if faulted and self.faults.config.latency_seconds > 0:
            await asyncio.sleep(self.faults.config.latency_seconds)
        if faulted and self.faults.config.html_page:
            await _drain(receive)
            self.counter.add(route, 200)
            await _answer(send, 200, _HTML_PAGE, [], b"text/html; charset=utf-8")
            return
        fault_status = self.faults.draw_error_status() if faulted else None
        if fault_status is not None:
            # An injected failure answers at once: the request is not processed at all.
            await _drain(receive)
            self.counter.add(route, fault_status)
            text = _FAULT_TEXT.get(fault_status, "Server Error")
            if fault_status == 502:
                await _answer(send, 502, _GATEWAY_PAGE, [rid_header], b"text/html")
            else:
                body = error_body(fault_status, "internal_error", text, "Injected fault", rid)
                await _answer(send, fault_status, body, [rid_header], b"application/json")
            return
        drop = faulted and self.faults.draw_drop()

        project = self._authenticate(scope)
        if project is None:
            await _drain(receive)
            self.counter.add(route, 401)
            details = "Cannot authenticate: missing or invalid X-App-Id / X-App-Token headers"
            body = error_body(401, "unauthorized", "Unauthorized", details, rid)
            await _answer(send, 401, body, [rid_header], b"application/json")
            return
        scope[PROJECT_KEY] = project

        verdict = self.limiter.check(project, is_bulk=template in BULK_PATHS and scope["method"] == "POST")
        if not verdict.allowed:
            await _drain(receive)
            self.counter.add(route, 429)
            details = f"Limit of {verdict.limit_type} reached; retry after {verdict.retry_after} s"
            body = error_body(
                429, "too_many_requests", "Too many requests hit the API too quickly.", details, rid
            )
            await _answer(send, 429, body, [*verdict.headers, rid_header], b"application/json")
            return

        status = 500
        extra = [*verdict.headers, rid_header]

        async def send_through(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            elif drop:
                # The request was fully processed; the client never gets the body, and uvicorn
                # closes the connection because the answer is incomplete.
                return
            await send(message)

        await self.app(scope, receive, send_through)
        self.counter.add(route, status)
        if drop:
            self.counter.dropped += 1

    def _authenticate(self, scope: Scope) -> str | None:
        app_id = token = None
        for name, value in scope["headers"]:
            if name == b"x-app-id":
                app_id = value.decode("latin-1")
            elif name == b"x-app-token":
                token = value.decode("latin-1")
        expected = self.tokens.get(app_id or "")
        if (
            expected is None
            or token is None
            or not hmac.compare_digest(expected.encode(), token.encode("latin-1"))
        ):
            return None
        return app_id


def describe_counts(
    counter: RequestCounter, db_counts: dict[str, dict[str, int]], cpu_seconds: float
) -> dict[str, Any]:
    """The ``GET /_emulator/stats`` body."""
    totals = dict.fromkeys(
        (
            "imports_accepted",
            "orders_received",
            "distinct_source_ids_received",
            "orders_stored",
            "duplicate_payloads",
        ),
        0,
    )
    for figures in db_counts.values():
        for name in totals:
            totals[name] += figures.get(name, 0)
    requests = counter.snapshot()
    return {
        "requests": requests,
        "total_requests": sum(sum(by_status.values()) for by_status in requests.values()),
        "dropped_responses": counter.dropped,
        **totals,
        "processing_cpu_seconds": round(cpu_seconds, 6),
        "projects": db_counts,
    }
