"""VoucherifyHook through real HTTP: auth, errors, and every retry rule."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from airflow_provider_voucherify import (
    VoucherifyApiError,
    VoucherifyAuthError,
    VoucherifyTransportError,
    VoucherifyUnsafeRetryError,
    __version__,
)
from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.models import ActionStatus
from tests.airflow_helpers import point_connection
from tests.hooks.conftest import TOKEN
from tests.hooks.scripted_server import Reply, ScriptedServer

ACCEPTED = Reply(200, {"async_action_id": "aa_1"})
ACTION = {
    "id": "aa_1",
    "type": "ORDERS.IMPORT",
    "status": "DONE",
    "progress": 100,
    "request_id": "v-1",
    "result": {
        "message": "ok",
        "done_count": 2,
        "failed_count": 1,
        "failed": [{"source_id": None, "reason": "x"}],
    },
}
ORDERS_WITH_IDS = [{"source_id": "o-1", "status": "PAID", "amount": 100}, {"source_id": "o-2"}]
ORDERS_WITHOUT_IDS = [{"source_id": "o-1"}, {"status": "PAID", "amount": 100}]


def test_sends_auth_headers_and_user_agent(conn_env: ScriptedServer) -> None:
    conn_env.script(ACCEPTED)
    assert VoucherifyHook().import_orders(ORDERS_WITH_IDS) == "aa_1"
    (request,) = conn_env.seen
    assert request.method == "POST"
    assert request.path == "/v1/orders/import"
    assert request.headers["X-App-Id"] == "app-id-1"
    assert request.headers["X-App-Token"] == TOKEN
    assert request.headers["User-Agent"].startswith(f"airflow-provider-voucherify/{__version__}")
    assert json.loads(request.body) == ORDERS_WITH_IDS


def test_created_at_moves_into_metadata(conn_env: ScriptedServer) -> None:
    conn_env.script(ACCEPTED)
    VoucherifyHook().import_orders([{"source_id": "o-1", "created_at": "2021-03-04T05:06:07Z"}])
    assert json.loads(conn_env.seen[0].body) == [
        {"source_id": "o-1", "metadata": {"original_created_at": "2021-03-04T05:06:07.000Z"}}
    ]


def test_one_client_is_reused_across_calls(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(200, ACTION), Reply(200, ACTION))
    hook = VoucherifyHook()
    hook.get_async_action("aa_1")
    client = hook.get_conn()
    hook.get_async_action("aa_1")
    assert hook.get_conn() is client


def test_get_async_action_reads_import_result(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(200, ACTION))
    action = VoucherifyHook().get_async_action("aa_1")
    assert action.status is ActionStatus.DONE
    assert action.import_result is not None
    assert action.import_result.failed_count == 1
    assert action.import_result.failed[0].source_id is None


def test_list_async_actions_passes_limit_and_cursor(conn_env: ScriptedServer) -> None:
    listed = {**ACTION, "status": "IN_PROGRESS"}
    del listed["result"]
    conn_env.script(Reply(200, {"object": "list", "async_actions": [listed], "has_more": False}))
    actions = VoucherifyHook().list_async_actions(limit=7, end_date="2024-01-01T00:00:00Z")
    assert [a.status for a in actions] == [ActionStatus.IN_PROGRESS]
    assert conn_env.seen[0].path == "/v1/async-actions?limit=7&end_date=2024-01-01T00%3A00%3A00Z"


def test_get_order_escapes_source_id(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(200, {"id": "ord_1", "source_id": "a/b c"}))
    assert VoucherifyHook().get_order("a/b c")["id"] == "ord_1"
    assert conn_env.seen[0].path == "/v1/orders/a%2Fb%20c"


def test_api_error_names_endpoint_status_key_details_and_request_id(conn_env: ScriptedServer) -> None:
    conn_env.script(
        Reply(
            400,
            {
                "code": 400,
                "key": "invalid_payload",
                "message": "Invalid payload",
                "details": "Property .items[0].initial_quantity cannot be lower than 1",
                "request_id": "v-0a1b",
            },
        )
    )
    with pytest.raises(VoucherifyApiError) as caught:
        VoucherifyHook().import_orders(ORDERS_WITH_IDS)
    error = caught.value
    assert (error.status_code, error.key, error.request_id) == (400, "invalid_payload", "v-0a1b")
    for part in ("POST /v1/orders/import", "400", "invalid_payload", "initial_quantity", "v-0a1b"):
        assert part in str(error)
    assert len(conn_env.seen) == 1


def test_413_body_shape_is_understood(conn_env: ScriptedServer) -> None:
    conn_env.script(
        Reply(413, {"statusCode": 413, "error": "Request Entity Too Large", "message": "too large"})
    )
    with pytest.raises(VoucherifyApiError) as caught:
        VoucherifyHook().import_orders(ORDERS_WITH_IDS)
    assert caught.value.status_code == 413
    assert caught.value.key == "Request Entity Too Large"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_client_errors_are_never_retried(conn_env: ScriptedServer, status: int) -> None:
    conn_env.script(Reply(status, {"code": status, "key": "k", "message": "m"}), ACCEPTED)
    with pytest.raises(VoucherifyApiError) as caught:
        VoucherifyHook().import_orders(ORDERS_WITH_IDS)
    assert caught.value.status_code == status
    assert isinstance(caught.value, VoucherifyAuthError) == (status in (401, 403))
    assert len(conn_env.seen) == 1


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_transient_statuses_are_retried_even_for_imports_without_source_id(
    conn_env: ScriptedServer, status: int
) -> None:
    conn_env.script(Reply(status, {"code": status}), ACCEPTED)
    assert VoucherifyHook().import_orders(ORDERS_WITHOUT_IDS) == "aa_1"
    assert len(conn_env.seen) == 2


def test_retry_after_is_honoured_and_measured(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(429, {"code": 429}, headers={"Retry-After": "1"}), ACCEPTED)
    VoucherifyHook().import_orders(ORDERS_WITH_IDS)
    first, second = conn_env.seen
    assert second.at - first.at >= 1.0


def test_x_rate_limit_retry_epoch_is_honoured(conn_env: ScriptedServer) -> None:
    import time

    retry_at = int(time.time()) + 2
    conn_env.script(Reply(429, {"code": 429}, headers={"X-Rate-Limit-Retry": str(retry_at)}), ACCEPTED)
    VoucherifyHook().import_orders(ORDERS_WITH_IDS)
    assert time.time() >= retry_at - 0.05


def test_retries_stop_after_max_retries(conn_env: ScriptedServer) -> None:
    conn_env.script(*[Reply(503, {"code": 503, "request_id": "v-last"})] * 10)
    with pytest.raises(VoucherifyApiError) as caught:
        VoucherifyHook().get_async_action("aa_1")
    assert caught.value.status_code == 503
    assert len(conn_env.seen) == 1 + 3  # max_retries=3 counts retries after the first attempt


def test_500_on_import_is_retried_when_every_order_has_source_id(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(500, {"code": 500}), ACCEPTED)
    assert VoucherifyHook().import_orders(ORDERS_WITH_IDS) == "aa_1"
    assert len(conn_env.seen) == 2


def test_500_on_import_without_source_ids_is_not_retried(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(500, {"code": 500, "request_id": "v-500"}), ACCEPTED)
    with pytest.raises(VoucherifyUnsafeRetryError, match="source_id") as caught:
        VoucherifyHook().import_orders(ORDERS_WITHOUT_IDS)
    assert isinstance(caught.value.__cause__, VoucherifyApiError)
    assert len(conn_env.seen) == 1


def test_read_timeout_on_import_is_retried_when_safe(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(delay=1.5, body={"async_action_id": "aa_late"}), ACCEPTED)
    assert VoucherifyHook().import_orders(ORDERS_WITH_IDS) == "aa_1"
    assert len(conn_env.seen) == 2


def test_read_timeout_on_import_without_source_ids_is_not_retried(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(delay=1.5, body={"async_action_id": "aa_late"}), ACCEPTED)
    with pytest.raises(VoucherifyUnsafeRetryError, match="ReadTimeout"):
        VoucherifyHook().import_orders(ORDERS_WITHOUT_IDS)
    assert len(conn_env.seen) == 1


def test_lost_answer_on_import_without_source_ids_is_not_retried(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(drop=True), ACCEPTED)
    with pytest.raises(VoucherifyUnsafeRetryError):
        VoucherifyHook().import_orders(ORDERS_WITHOUT_IDS)
    assert len(conn_env.seen) == 1


def test_lost_answer_on_get_is_retried(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(drop=True), Reply(200, ACTION))
    assert VoucherifyHook().get_async_action("aa_1").id == "aa_1"


def test_connection_refused_is_retried_then_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    srv = ScriptedServer()
    url = srv.url
    srv.close()  # nothing listens there now
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOUCHERIFY_DEFAULT",
        json.dumps(
            {
                "conn_type": "voucherify",
                "host": url,
                "login": "a",
                "password": TOKEN,
                "extra": {"max_retries": 2, "retry_backoff": 0.01},
            }
        ),
    )
    with pytest.raises(VoucherifyTransportError, match="ConnectError"):
        VoucherifyHook().import_orders(ORDERS_WITHOUT_IDS)


def test_async_twins_retry_and_parse(conn_env: ScriptedServer) -> None:
    listed = {k: v for k, v in ACTION.items() if k != "result"}
    conn_env.script(
        Reply(503, {"code": 503}),
        Reply(200, ACTION),
        Reply(200, {"object": "list", "async_actions": [listed], "has_more": False}),
    )

    async def run() -> tuple[object, object]:
        hook = VoucherifyHook()
        try:
            return await hook.aget_async_action("aa_1"), await hook.alist_async_actions(limit=1)
        finally:
            await hook.aclose()

    action, listing = asyncio.run(run())
    assert action.status is ActionStatus.DONE  # type: ignore[attr-defined]
    assert len(listing) == 1  # type: ignore[arg-type]
    assert len(conn_env.seen) == 3


def test_test_connection_reports_success_and_failure(conn_env: ScriptedServer) -> None:
    conn_env.script(
        Reply(200, {"object": "list", "async_actions": [], "has_more": False}),
        Reply(401, {"code": 401, "key": "unauthorized", "message": "Unauthorized"}),
    )
    ok, message = VoucherifyHook().test_connection()
    assert ok
    assert conn_env.url in message
    ok, message = VoucherifyHook().test_connection()
    assert not ok
    assert "401" in message
    assert conn_env.seen[0].path == "/v1/async-actions?limit=1"


def test_token_never_reaches_logs_or_errors(
    conn_env: ScriptedServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    conn_env.script(
        Reply(503, {"code": 503}),
        Reply(429, {"code": 429}, headers={"Retry-After": "0"}),
        Reply(401, {"code": 401, "key": "unauthorized", "message": "Unauthorized", "request_id": "v-9"}),
    )
    hook = VoucherifyHook()
    with pytest.raises(VoucherifyAuthError) as caught:
        hook.import_orders(ORDERS_WITH_IDS)
    captured = capfd.readouterr()
    assert caplog.records, "the retries should have been logged"
    for text in (caplog.text, captured.out, captured.err, str(caught.value), repr(caught.value)):
        assert TOKEN not in text
    assert TOKEN not in repr(hook.settings)
    assert TOKEN not in repr(hook)


def test_get_customer_by_source_id(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(200, {"id": "cust_1", "source_id": "jane@x"}))
    assert VoucherifyHook().get_customer("jane@x")["id"] == "cust_1"
    assert conn_env.seen[0].path == "/v1/customers/jane%40x"


def test_clients_share_one_verifying_tls_context() -> None:
    from airflow_provider_voucherify.hooks._clients import client_options
    from airflow_provider_voucherify.hooks._config import ClientSettings

    settings = ClientSettings(base_url="https://api.voucherify.io", app_id="a", app_token="t")
    first = client_options(settings)["verify"]
    second = client_options(settings)["verify"]
    assert first is second
    assert first.verify_mode.name == "CERT_REQUIRED"
    unverified = ClientSettings(base_url="https://x.example", app_id="a", app_token="t", verify_tls=False)
    assert client_options(unverified)["verify"] is False


def test_a_host_written_with_v1_reaches_the_same_endpoints(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for host in (f"{emulator.url}/v1", f"{emulator.url}/v1/"):
        conn = {**json.loads(emulator.conn_json), "host": host}
        monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", json.dumps(conn))
        hook = VoucherifyHook()
        assert hook.settings.base_url == emulator.url
        assert hook.list_async_actions(limit=1) == []  # a 404 on /v1/v1/... would raise
        hook.close()


def test_an_unknown_extra_is_logged_by_name(
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    point_connection(monkeypatch, emulator, max_retry=3)
    caplog.set_level(logging.WARNING)
    hook = VoucherifyHook()
    assert hook.settings.max_retries == 2
    logged = caplog.text + capfd.readouterr().out  # Airflow's logging may print instead
    assert "'max_retry' (did you mean 'max_retries'?)" in logged
