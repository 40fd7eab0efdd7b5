"""VoucherifyHook: connection, authentication, retries, and the few API calls the provider needs."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_voucherify import CONNECTION_FORM
from airflow_provider_voucherify.airflow_errors import raises_airflow_errors
from airflow_provider_voucherify.exceptions import ConnectionConfigError, VoucherifyApiError, VoucherifyError
from airflow_provider_voucherify.hooks._async_send import PreparedRequests, asend
from airflow_provider_voucherify.hooks._clients import ASYNC_LIMITS, client_options
from airflow_provider_voucherify.hooks._config import ClientSettings
from airflow_provider_voucherify.hooks._exports import ExportsMixin
from airflow_provider_voucherify.hooks._extras import connection_form_widgets
from airflow_provider_voucherify.hooks._retry import RetryDecision, decide, not_api_answer
from airflow_provider_voucherify.models import (
    MAX_IMPORT_BYTES,
    MAX_ORDERS_PER_IMPORT,
    AsyncAction,
    Order,
    parse_action_list,
    parse_order,
)
from airflow_provider_voucherify.orders import import_body, refuse_repeated_source_ids
from airflow_provider_voucherify.paths import action_path, list_params, path_segment
from airflow_provider_voucherify.rate_limits import RateLimit, read_rate_limit

IMPORT_ENDPOINT = "POST /v1/orders/import"
ACTION_ENDPOINT = "GET /v1/async-actions/{id}"


@raises_airflow_errors()
class VoucherifyHook(ExportsMixin, BaseHook):
    """Talks to the Voucherify API with an App ID / App Token pair from an Airflow connection.

    One ``httpx.Client`` (and, for triggers, one ``httpx.AsyncClient``) is made per hook and
    reused across calls. Every call retries with exponential backoff and jitter on 429 (waiting
    at least what ``Retry-After`` / ``X-Rate-Limit-Retry`` asks), 502/503/504 and connection
    errors; see :func:`~airflow_provider_voucherify.hooks._retry.decide` for the exact rules.
    A 429 asking for a longer wait than ``max_rate_limit_wait``, or any 429 of type
    ``api_calls_cycle``, raises :class:`~airflow_provider_voucherify.exceptions.VoucherifyRateLimitError`
    at once instead of sleeping. :attr:`rate_limit` holds the latest ``X-Rate-Limit-*`` values seen.

    :param voucherify_conn_id: the connection, of type ``voucherify``
    :param timeout: read timeout in seconds; overrides the connection's ``timeout`` extra
    :param max_retries: retries after the first attempt; overrides the ``max_retries`` extra
    :param max_rate_limit_wait: the longest sleep in seconds on one 429 (default 60); overrides
        the connection's ``max_rate_limit_wait`` extra
    """

    conn_name_attr = "voucherify_conn_id"
    default_conn_name = "voucherify_default"
    conn_type = "voucherify"
    hook_name = "Voucherify"

    def __init__(
        self,
        voucherify_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        max_rate_limit_wait: float | None = None,
    ) -> None:
        super().__init__()
        self.voucherify_conn_id = voucherify_conn_id
        self._timeout = timeout
        self._max_retries = max_retries
        self._max_rate_limit_wait = max_rate_limit_wait
        self.rate_limit: RateLimit | None = None
        """The latest ``X-Rate-Limit-*`` values any answer carried; ``None`` until one did."""
        self._settings: ClientSettings | None = None
        self._client: httpx.Client | None = None
        self._async_client: httpx.AsyncClient | None = None
        self._prepared = PreparedRequests()
        self._rng = random.Random()

    @classmethod
    def of_settings(cls, voucherify_conn_id: str, settings: ClientSettings) -> VoucherifyHook:
        """A hook with its own clients for settings already read (no second connection lookup)."""
        hook = cls(voucherify_conn_id)
        hook._settings = settings
        return hook

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extras' form fields, built from the model of ``conn-fields``, for Airflow 3.1."""
        return connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form, for Airflow releases that read it from the hook (before 3.2)."""
        keys = ("hidden-fields", "relabeling", "placeholders")
        return {key.replace("-", "_"): CONNECTION_FORM[key] for key in keys}

    # -- configuration ----------------------------------------------------------------------

    def _settings_from(self, conn: Any) -> ClientSettings:
        try:
            settings = ClientSettings.from_connection(
                host=conn.host,
                port=conn.port,
                login=conn.login,
                password=conn.password,
                extra=conn.extra_dejson,
                timeout=self._timeout,
                max_retries=self._max_retries,
                max_rate_limit_wait=self._max_rate_limit_wait,
            )
        except ConnectionConfigError as exc:
            exc.args = (f"Connection {self.voucherify_conn_id!r}: {exc}",)
            raise
        if settings.app_token != conn.password:
            # Airflow masks the password as stored; the stripped token is another string.
            mask_secret(settings.app_token)
        for warning in settings.warnings(self.voucherify_conn_id):
            self.log.warning("%s", warning)
        return settings

    @property
    def settings(self) -> ClientSettings:
        """The connection's settings, read once (synchronously)."""
        if self._settings is None:
            self._settings = self._settings_from(self.get_connection(self.voucherify_conn_id))
        return self._settings

    async def asettings(self) -> ClientSettings:
        """The connection's settings, read without blocking the event loop (for triggers)."""
        if self._settings is None:
            try:
                conn = await self.aget_connection(self.voucherify_conn_id)
            except ImportError:
                # Airflow 3.1 outside a supervised process (no SUPERVISOR_COMMS to import):
                # read it from the secrets backends in a thread, off the event loop.
                conn = await asyncio.to_thread(self.get_connection, self.voucherify_conn_id)
            self._settings = self._settings_from(conn)
        return self._settings

    def get_conn(self) -> httpx.Client:
        """The hook's ``httpx.Client``, made on first use and reused."""
        if self._client is None:
            self._client = httpx.Client(**client_options(self.settings))
        return self._client

    async def aget_conn(self) -> httpx.AsyncClient:
        """The hook's ``httpx.AsyncClient``, made on first use and reused."""
        if self._async_client is None:
            self._async_client = httpx.AsyncClient(
                **client_options(await self.asettings()), limits=ASYNC_LIMITS
            )
        return self._async_client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        self._prepared.clear()
        if self._async_client is not None:
            await self._async_client.aclose()
            self._async_client = None

    # -- the request loops: one sync, one async, one set of rules ------------------------

    def _located(
        self, error: VoucherifyError, path: str, params: Mapping[str, Any] | None
    ) -> VoucherifyError:
        """``error`` naming the resolved URL and the connection id (never the token)."""
        settings = self._settings
        assert settings is not None
        url = httpx.URL(f"{settings.base_url}{path}", params=params)
        return error.locate(url=str(url), conn_id=self.voucherify_conn_id)

    def _api_answer(
        self, endpoint: str, response: httpx.Response, path: str, params: Mapping[str, Any] | None
    ) -> httpx.Response:
        """``response``, once it is known to be the API's JSON (never retried otherwise)."""
        if (wrong := not_api_answer(endpoint, response)) is not None:
            raise self._located(wrong, path, params)
        return response

    def _observe(self, outcome: httpx.Response | httpx.TransportError) -> None:
        if isinstance(outcome, httpx.Response):
            seen = read_rate_limit(outcome.headers, time.time())
            if seen is not None:
                self.rate_limit = seen

    def _decide(
        self, endpoint: str, outcome: httpx.Response | httpx.TransportError, attempt: int, resend_safe: bool
    ) -> RetryDecision:
        settings = self._settings
        assert settings is not None
        decision = decide(
            endpoint,
            outcome,
            attempt=attempt,
            max_retries=settings.max_retries,
            backoff=settings.backoff,
            resend_safe=resend_safe,
            now=time.time(),
            rng=self._rng,
            max_rate_limit_wait=settings.max_rate_limit_wait,
        )
        if decision.wait is not None:
            what = (
                f"answered {outcome.status_code}"
                if isinstance(outcome, httpx.Response)
                else f"failed ({type(outcome).__name__})"
            )
            retry = (attempt + 1, settings.max_retries, decision.wait)
            self.log.warning("%s %s; retry %d of %d in %.1f s", endpoint, what, *retry)
        return decision

    def _request(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        resend_safe: bool = True,
    ) -> httpx.Response:
        client = self.get_conn()
        headers = {"Content-Type": "application/json"} if content is not None else None
        attempt = 0
        while True:
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = client.request(method, path, params=params, content=content, headers=headers)
            except httpx.TransportError as exc:
                outcome = exc
            self._observe(outcome)
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return self._api_answer(endpoint, outcome, path, params)
            decision = self._decide(endpoint, outcome, attempt, resend_safe)
            if decision.error is not None:
                raise self._located(decision.error, path, params)
            time.sleep(decision.wait or 0.0)
            attempt += 1

    async def _arequest(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        client = await self.aget_conn()
        request, transport = self._prepared.get(client, method, path, params)
        attempt = 0
        while True:
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = await asend(request, transport)
            except httpx.TransportError as exc:
                outcome = exc
            self._observe(outcome)
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return self._api_answer(endpoint, outcome, path, params)
            decision = self._decide(endpoint, outcome, attempt, resend_safe=True)
            if decision.error is not None:
                raise self._located(decision.error, path, params)
            await asyncio.sleep(decision.wait or 0.0)
            attempt += 1

    # -- the API ---------------------------------------------------------------------------

    def import_orders(self, orders: Sequence[Order | Mapping[str, Any]]) -> str:
        """Send one ``POST /v1/orders/import`` of at most 2000 orders; return the async action id.

        Dicts are validated into :class:`Order` first (``created_at`` moves into metadata).

        :raises InvalidOrderError: for an invalid order, or two with the same ``source_id``
        """
        validated = [
            parse_order(order, line=position).move_created_at()
            for position, order in enumerate(orders, start=1)
        ]
        refuse_repeated_source_ids(validated)
        return self.import_serialized(
            import_body(validated),
            count=len(validated),
            resend_safe=all(order.source_id for order in validated),
        )

    def import_serialized(self, body: bytes, *, count: int, resend_safe: bool) -> str:
        """Send an already serialized JSON array of ``count`` orders; return the async action id.

        :param resend_safe: every order has a ``source_id``, so a repeated POST only updates
        """
        if not 0 < count <= MAX_ORDERS_PER_IMPORT:
            raise ValueError(f"An import takes 1 to {MAX_ORDERS_PER_IMPORT} orders, got {count}")
        if len(body) > MAX_IMPORT_BYTES:
            raise ValueError(f"An import body takes at most {MAX_IMPORT_BYTES} bytes, got {len(body)}")
        response = self._request(
            "POST", "/v1/orders/import", IMPORT_ENDPOINT, content=body, resend_safe=resend_safe
        )
        action_id = response.json().get("async_action_id")
        if not isinstance(action_id, str):
            raise VoucherifyError(
                f"{IMPORT_ENDPOINT} answered {response.status_code} without an async_action_id"
            )
        return action_id

    def get_async_action(self, async_action_id: str) -> AsyncAction:
        """``GET /v1/async-actions/{id}``: status, progress and, once finished, the result."""
        response = self._request("GET", action_path(async_action_id), ACTION_ENDPOINT)
        return AsyncAction.model_validate_json(response.content)

    async def aget_async_action(self, async_action_id: str) -> AsyncAction:
        """Async twin of :meth:`get_async_action`."""
        response = await self._arequest("GET", action_path(async_action_id), ACTION_ENDPOINT)
        return AsyncAction.model_validate_json(response.content)

    def list_async_actions(
        self,
        limit: int = 100,
        end_date: datetime | str | None = None,
        *,
        ids: Collection[str] | None = None,
    ) -> list[AsyncAction]:
        """``GET /v1/async-actions``: the newest actions first (created before ``end_date``), no results.

        :param ids: return only these actions of the page (the others are not even validated);
            the answer, an :class:`~airflow_provider_voucherify.models.ActionList`, still tells
            the page's size and its last entry's ``created_at``
        """
        response = self._request(
            "GET", "/v1/async-actions", "GET /v1/async-actions", params=list_params(limit, end_date)
        )
        return parse_action_list(response.content, ids)

    async def alist_async_actions(
        self,
        limit: int = 100,
        end_date: datetime | str | None = None,
        *,
        ids: Collection[str] | None = None,
    ) -> list[AsyncAction]:
        """Async twin of :meth:`list_async_actions`."""
        response = await self._arequest(
            "GET", "/v1/async-actions", "GET /v1/async-actions", params=list_params(limit, end_date)
        )
        return parse_action_list(response.content, ids)

    def _get_json(self, endpoint: str, key: str) -> dict[str, Any]:
        template = endpoint.removeprefix("GET ")  # "/v1/orders/{id}": the id is the last segment
        path = template[: template.index("{")] + path_segment(key, f"id of {endpoint}")
        found: dict[str, Any] = self._request("GET", path, endpoint).json()
        return found

    def get_order(self, order_id_or_source_id: str) -> dict[str, Any]:
        """``GET /v1/orders/{id}``: an order by Voucherify id or by your ``source_id``."""
        return self._get_json("GET /v1/orders/{id}", order_id_or_source_id)

    def get_customer(self, customer_id_or_source_id: str) -> dict[str, Any]:
        """``GET /v1/customers/{id}``: a customer by Voucherify id or by your ``source_id``."""
        return self._get_json("GET /v1/customers/{id}", customer_id_or_source_id)

    def get_metadata_schema(self, resource: str) -> dict[str, Any] | None:
        """``GET /v1/metadata-schemas/{resource}``: the project's metadata schema of ``order``,
        ``order_item``, ``customer``, ``product``...; ``None`` when none is defined (404)."""
        try:
            return self._get_json("GET /v1/metadata-schemas/{resource}", resource)
        except VoucherifyApiError as exc:
            if exc.status_code == 404:
                return None
            raise

    def test_connection(self) -> tuple[bool, str]:
        """One authenticated read (``GET /v1/async-actions?limit=1``), without retries, to check the
        host and the keys: at most one timeout. The message names the URL tried and the connection
        id, never the token."""
        where = f"connection {self.voucherify_conn_id!r}"
        try:
            settings = self.settings
        except Exception as exc:  # a missing or malformed connection: say so, do not raise
            return False, f"Cannot use {where}: {exc}"
        url = f"{settings.base_url}/v1/async-actions?limit=1"
        self._settings = dataclasses.replace(settings, max_retries=0)
        try:
            self.list_async_actions(limit=1)
        except (VoucherifyError, ValueError) as exc:
            return False, f"Tried {url} with {where}: {exc}"
        finally:
            self._settings = settings
            self.close()
        return True, f"Connected to {settings.base_url} as application {settings.app_id} ({where})"
