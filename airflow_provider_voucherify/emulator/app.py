"""The FastAPI application: the Voucherify routes the provider uses, and the ``/_emulator`` controls."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from airflow_provider_voucherify.emulator.bodies import canonical_lines
from airflow_provider_voucherify.emulator.clock import EmulatedClock
from airflow_provider_voucherify.emulator.config import EmulatorConfig
from airflow_provider_voucherify.emulator.control_routes import control_routes
from airflow_provider_voucherify.emulator.customers import BULK_PATH, CUSTOMERS_BULK_UPDATE, check_customers
from airflow_provider_voucherify.emulator.export_routes import export_routes
from airflow_provider_voucherify.emulator.exports import ExportBook, ExportSettings
from airflow_provider_voucherify.emulator.fast_accept import BodyRefusedError, read_import
from airflow_provider_voucherify.emulator.faults import FaultConfig, FaultInjector
from airflow_provider_voucherify.emulator.frontdoor import FrontDoor
from airflow_provider_voucherify.emulator.ids import hex_id
from airflow_provider_voucherify.emulator.middleware import (
    PROJECT_KEY,
    REQUEST_ID_KEY,
    ApiGate,
    RequestCounter,
    error_body,
    segment,
)
from airflow_provider_voucherify.emulator.plans import plan_limits
from airflow_provider_voucherify.emulator.ratelimit import RateLimiter
from airflow_provider_voucherify.emulator.schema_routes import schema_routes
from airflow_provider_voucherify.emulator.schemas import SchemaBook
from airflow_provider_voucherify.emulator.store import Store
from airflow_provider_voucherify.emulator.worker import ImportWorker

log = logging.getLogger("airflow_provider_voucherify.emulator")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The request body, or ``None`` when it is larger than ``limit`` bytes: the rest is read and
    dropped without being kept, so an oversized body costs no memory (the bulk endpoints share it)."""
    declared = request.headers.get("content-length", "")
    too_large = declared.isdigit() and int(declared) > limit
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        too_large = too_large or size > limit
        if not too_large:
            parts.append(part)
    return None if too_large else b"".join(parts)


def _too_large(limit: int) -> bytes:
    """The 413 body of the API's HTTP framework (a shape of its own, not the API's error object)."""
    message = f"Payload content length greater than maximum allowed: {limit}"
    return json.dumps({"statusCode": 413, "error": "Request Entity Too Large", "message": message}).encode()


def _json(body: Any, status: int = 200) -> Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(raw, status_code=status, media_type="application/json")


def _error(request: Request, status: int, key: str, message: str, details: str, **extra: str) -> Response:
    rid = request.scope.get(REQUEST_ID_KEY, "v-0")
    body = json.loads(error_body(status, key, message, details, rid))
    return _json({**body, **extra}, status)


def _not_found(request: Request, kind: str, key: str) -> Response:
    details = f"Cannot find {kind} with id {key}"
    return _error(
        request, 404, "not_found", "Resource not found", details, resource_id=key, resource_type=kind
    )


def _int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int | Response:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    bad = None
    if not raw.lstrip("-").isdigit():
        bad = f"Property .{name} should be integer"
    elif int(raw) < low:
        bad = f"Property .{name} cannot be lower than {low}"
    elif high is not None and int(raw) > high:
        bad = f"Property .{name} cannot be greater than {high}"
    if bad:
        return _error(request, 400, "invalid_query_params", "Invalid query params", bad)
    return int(raw)


def parse_end_date(text: str) -> int | None:
    """ISO 8601 date or date-time (UTC when no offset) as epoch microseconds; ``None`` if unreadable."""
    # An unencoded "+" in a query string arrives as a space.
    text = text.strip().replace(" ", "+").replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(microseconds=1)


class Emulator:
    """Everything the routes share: storage, queue workers, faults, limits and counters."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.store = Store(config.db_path)
        self.faults = FaultInjector(config.faults)
        self.clock = EmulatedClock(config.time_scale)
        self.limiter = RateLimiter(self.clock)
        self.limiter.configure_projects(
            {project.app_id: project.organization for project in config.projects},
            {project.app_id: plan_limits(project.plan) for project in config.projects if project.plan},
        )
        self.counter = RequestCounter(self.store.load_request_counts())
        self.workers: dict[str, ImportWorker] = {}
        self.front_door = FrontDoor()  # requests in flight: the workers wait between chunks
        self.schemas = SchemaBook(config.metadata_schemas)
        self.exports = ExportBook(self.store, self._export_settings(), parse_end_date)
        self.apply_limits()

    def _export_settings(self) -> ExportSettings:
        config = self.config
        rate = (
            config.orders_per_second
            if config.export_rows_per_second is None
            else config.export_rows_per_second
        )
        download = config.download_port
        return ExportSettings(
            rows_per_second=rate * config.time_scale,
            overhead_seconds=self.clock.real_seconds(config.export_overhead_seconds),
            header=config.export_header,
            download_base=None if download is None else f"http://{config.download_host}:{download}",
        )

    def export_options(self) -> tuple[str, str]:
        """The final status of exports created now, and the header form of their files."""
        fault = self.faults.config
        return fault.export_status or "DONE", fault.export_header or self.config.export_header

    def apply_limits(self) -> None:
        """The server's limits: its plan and flags, or the plan and numbers set through the controls."""
        fault, config = self.faults.config, self.config
        if fault.plan is not None:
            limits = plan_limits(fault.plan)
        else:
            limits = plan_limits(config.plan).overridden(
                per_minute=config.rate_limit_per_minute,
                per_hour=config.rate_limit_per_hour,
                bulk_per_hour=config.bulk_calls_per_hour,
                per_cycle=config.calls_per_cycle,
            )
        limits = limits.overridden(
            per_minute=fault.rate_limit_per_minute,
            per_hour=fault.rate_limit_per_hour,
            bulk_per_hour=fault.bulk_calls_per_hour,
            per_cycle=fault.calls_per_cycle,
        )
        self.limiter.configure(limits, fault.retry_after_seconds)

    def start(self) -> None:
        for project in self.config.projects:
            worker = ImportWorker(
                self.store,
                project.app_id,
                self.config.orders_per_second * self.config.time_scale,
                self.schemas,
                overhead_seconds=self.clock.real_seconds(self.config.import_overhead_seconds),
                front_door=self.front_door,
                held=lambda: self.faults.config.hold_imports,
            )
            self.workers[project.app_id] = worker
            worker.start()
        self.exports.resume()

    def stop(self) -> None:
        self.exports.stop()
        for worker in self.workers.values():
            worker.stop()
        self.store.save_request_counts(self.counter.snapshot())
        self.store.close()

    def reset(self) -> None:
        self.clock.back_to_real_time()
        self.store.reset()
        self.counter.clear()
        self.faults.configure(FaultConfig())
        self.schemas.reset()
        self.exports.reset()
        self.apply_limits()
        self.wake_workers()

    def wake_workers(self) -> None:
        """Let the queues look again now: after the faults changed (a released ``hold_imports``)."""
        for worker in self.workers.values():
            worker.notify()


def create_app(config: EmulatorConfig) -> FastAPI:
    emulator = Emulator(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        emulator.start()
        log.info("Voucherify emulator listening on http://%s:%s", config.host, config.port)
        yield
        emulator.stop()

    app = FastAPI(
        title="Voucherify emulator", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.emulator = emulator
    store = emulator.store

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            details = f"{request.method} is not supported by this endpoint."
            return _error(request, 405, "method_not_allowed", "HTTP Method Not Allowed", details)
        details = f"Cannot find route {request.method} {request.url.path}"
        return _error(request, exc.status_code, "not_found", "Resource not found", details)

    @app.post("/v1/orders/import")
    async def import_orders(request: Request) -> Response:
        project: str = request.scope[PROJECT_KEY]
        body = await _bounded_body(request, config.max_body_bytes)
        if body is None:
            return _json(_too_large(config.max_body_bytes), 413)
        try:
            # One canonical JSON document per line: the worker parses and stores each order on its own.
            accepted = read_import(body)
        except BodyRefusedError as exc:
            return _error(request, 400, "invalid_payload", "Invalid payload", exc.details)
        action_id = hex_id("aa")
        store.accept_import(
            project,
            action_id,
            request.scope[REQUEST_ID_KEY],
            accepted.canonical,
            accepted.order_count,
            hashlib.sha256(accepted.canonical).hexdigest(),
            accepted.source_ids,
            emulator.faults.take_import_failure(),
        )
        emulator.workers[project].notify()
        return _json({"async_action_id": action_id})

    @app.post(BULK_PATH)
    async def update_customers_in_bulk(request: Request) -> Response:
        project: str = request.scope[PROJECT_KEY]
        body = await _bounded_body(request, config.max_body_bytes)
        if body is None:
            return _json(_too_large(config.max_body_bytes), 413)
        try:
            customers = json.loads(body)
        except ValueError as exc:
            return _error(
                request, 400, "invalid_payload", "Invalid payload", f"Request body is not valid JSON: {exc}"
            )
        if problem := check_customers(customers):
            return _error(request, 400, "invalid_payload", "Invalid payload", problem)
        canonical = canonical_lines(customers)
        action_id = hex_id("aa")
        store.accept_import(
            project,
            action_id,
            request.scope[REQUEST_ID_KEY],
            canonical,
            len(customers),
            hashlib.sha256(canonical).hexdigest(),
            (),
            False,
            kind=CUSTOMERS_BULK_UPDATE,
        )
        emulator.workers[project].notify()
        return _json({"async_action_id": action_id})

    @app.get("/v1/async-actions/{action_id}")
    async def get_async_action(request: Request, action_id: str) -> Response:
        action_id = segment(action_id)
        action = store.get_action(request.scope[PROJECT_KEY], action_id)
        if action is None:
            return _not_found(request, "async_action", action_id)
        return _json(emulator.faults.reported(action))

    @app.get("/v1/async-actions")
    async def list_async_actions(request: Request) -> Response:
        limit = _int_param(request, "limit", 10, 1, 100)
        if isinstance(limit, Response):
            return limit
        end_date = request.query_params.get("end_date")
        before = None if end_date is None else parse_end_date(end_date)
        if end_date is not None and before is None:
            details = "Property .end_date cannot be recognized as a ISO-8601 compliant date"
            return _error(request, 400, "invalid_query_params", "Invalid query params", details)
        actions, has_more = store.list_actions(request.scope[PROJECT_KEY], limit, before)
        return _json(
            {"object": "list", "data_ref": "async_actions", "async_actions": actions, "has_more": has_more}
        )

    @app.get("/v1/orders")
    async def list_orders(request: Request) -> Response:
        limit = _int_param(request, "limit", 10, 1, 100)
        page = _int_param(request, "page", 1, 1, None)
        if isinstance(limit, Response):
            return limit
        if isinstance(page, Response):
            return page
        orders, total = store.list_orders(request.scope[PROJECT_KEY], limit, page)
        return _json({"object": "list", "data_ref": "orders", "orders": orders, "total": total})

    @app.get("/v1/orders/{key}")
    async def get_order(request: Request, key: str) -> Response:
        key = segment(key)
        order = store.get_order(request.scope[PROJECT_KEY], key)
        return _not_found(request, "order", key) if order is None else _json(order)

    @app.get("/v1/customers/{key}")
    async def get_customer(request: Request, key: str) -> Response:
        key = segment(key)
        customer = store.get_customer(request.scope[PROJECT_KEY], key)
        return _not_found(request, "customer", key) if customer is None else _json(customer)

    @app.get("/v1/products/{key}")
    async def get_product(request: Request, key: str) -> Response:
        key = segment(key)
        product = store.get_product(request.scope[PROJECT_KEY], key)
        return _not_found(request, "product", key) if product is None else _json(product)

    @app.get("/v1/skus/{key}")
    async def get_sku(request: Request, key: str) -> Response:
        key = segment(key)
        sku = store.get_sku(request.scope[PROJECT_KEY], key)
        return _not_found(request, "sku", key) if sku is None else _json(sku)

    schema_routes(app, emulator.schemas, _json, _not_found)
    export_routes(app, emulator.exports, emulator.export_options, _json, _error, _not_found)
    control_routes(app, emulator, _json)
    app.add_middleware(
        ApiGate,
        projects=config.projects,
        faults=emulator.faults,
        limiter=emulator.limiter,
        counter=emulator.counter,
        front_door=emulator.front_door,
    )
    return app
