"""VoucherifyHook's Exports API calls: against the emulator over real HTTP, and against scripted
servers where a test needs two hosts that see exactly what the hook sent them."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, free_port, wait_for_actions
from airflow_provider_voucherify.exceptions import VoucherifyApiError, VoucherifyAuthError, VoucherifyError
from airflow_provider_voucherify.hooks._exports import column_names, credentials_allowed
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from tests.airflow_helpers import point_connection
from tests.emulator.helpers import order, orders, post_import
from tests.hooks.conftest import TOKEN
from tests.hooks.scripted_server import Reply, ScriptedServer

FIELDS = ["source_id", "status", "amount", "metadata.note", "customer_id"]


@pytest.mark.parametrize(
    ("base_url", "url", "allowed"),
    [
        ("https://api.voucherify.io", "https://api.voucherify.io/v1/exports/exp_1?token=t", True),
        ("https://api.voucherify.io", "https://download.voucherify.io/v1/exports/exp_1?token=t", True),
        ("https://us1.api.voucherify.io", "https://us1.download.voucherify.io/v1/exports/e?token=t", True),
        ("https://as1.api.voucherify.io", "https://as1.download.voucherify.io/v1/exports/e?token=t", True),
        ("https://api.voucherify.io", "https://us1.download.voucherify.io/v1/exports/e?token=t", False),
        ("https://us1.api.voucherify.io", "https://download.voucherify.io/v1/exports/e?token=t", False),
        ("https://api.voucherify.io", "http://download.voucherify.io/v1/exports/e?token=t", False),
        ("https://api.voucherify.io", "https://download.voucherify.io:8443/v1/exports/e?token=t", False),
        ("https://api.voucherify.io", "https://download.voucherify.io.evil.example/v1/exports/e", False),
        ("https://api.voucherify.io", "https://files.example.com/exp_1.csv", False),
        ("https://voucherify.acme.example", "https://voucherify.acme.example/v1/exports/e?token=t", True),
        ("https://voucherify.acme.example", "https://download.voucherify.io/v1/exports/e?token=t", False),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1/exports/e?token=t", True),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8001/v1/exports/e?token=t", False),
        ("http://127.0.0.1:8000", "http://localhost:8000/v1/exports/e?token=t", False),
    ],
)
def test_credentials_go_to_the_own_origin_and_the_region_download_cluster_only(
    base_url: str, url: str, allowed: bool
) -> None:
    assert credentials_allowed(base_url, httpx.URL(url)) is allowed


@pytest.mark.parametrize(
    ("header", "names"),
    [
        (["source_id", "status"], ["source_id", "status"]),
        (["status", "source_id"], ["status", "source_id"]),
        (["Source ID", "Status"], ["source_id", "status"]),
        ([" source_id ", "status"], ["source_id", "status"]),
    ],
    ids=["keys", "keys-reordered", "labels-by-position", "padded-keys"],
)
def test_columns_are_named_by_key_or_else_by_position(header: list[str], names: list[str]) -> None:
    assert column_names(header, ["source_id", "status"]) == names


def test_a_header_that_fits_neither_way_is_refused() -> None:
    with pytest.raises(ValueError, match="3 columns"):
        column_names(["Source ID", "Status", "Amount"], ["source_id", "status"])


def finished(hook: VoucherifyHook, export_id: str, deadline_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_s
    while (export := hook.get_export(export_id))["status"] in ("SCHEDULED", "IN_PROGRESS"):
        assert time.monotonic() < deadline, f"export {export_id} still {export['status']}"
        time.sleep(0.02)  # poll interval
    return export


def import_orders(server: EmulatorServer, body: list[dict[str, Any]]) -> None:
    with server.client() as client:
        action_id = post_import(client, body)
    assert wait_for_actions(server, [action_id])[action_id]["status"] == "DONE"


@pytest.fixture
def hook(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[VoucherifyHook]:
    point_connection(monkeypatch, emulator)
    hook = VoucherifyHook()
    yield hook
    hook.close()


AWKWARD = 'a, "quoted"\r\nline'


@pytest.mark.parametrize("header", ["keys", "labels"])
def test_rows_are_keyed_by_field_whichever_header_the_file_writes(
    emulator: EmulatorServer, hook: VoucherifyHook, header: str
) -> None:
    import_orders(emulator, [order("o-1", metadata={"note": AWKWARD}), order("o-2", status="CREATED")])
    emulator.set_faults(export_header=header)
    created = hook.create_export("order", FIELDS, order="created_at")
    assert created["status"] == "SCHEDULED"
    rows = list(hook.download_export(finished(hook, created["id"])))
    assert rows == [
        {"source_id": "o-1", "status": "PAID", "amount": "2000", "metadata.note": AWKWARD, "customer_id": ""},
        {"source_id": "o-2", "status": "CREATED", "amount": "2000", "metadata.note": "", "customer_id": ""},
    ]
    # The download came from the API's own host, whose gate answers 401 without the App Id and
    # Token: reading the rows proves the hook sent them there.
    assert emulator.stats()["requests"]["POST /v1/exports"] == {"200": 1}


def test_filters_are_sent_as_the_spec_writes_them(emulator: EmulatorServer, hook: VoucherifyHook) -> None:
    import_orders(emulator, orders("early", 2))
    between = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    import_orders(emulator, orders("late", 1))
    filters = {"junction": "and", "created_at": {"conditions": {"$after": [between]}}}
    export = finished(hook, hook.create_export("order", ["source_id"], filters=filters)["id"])
    assert export["parameters"]["filters"] == filters
    assert [row["source_id"] for row in hook.download_export(export)] == ["late-0"]


def test_an_export_without_fields_is_read_with_the_default_fields(
    emulator: EmulatorServer, hook: VoucherifyHook
) -> None:
    import_orders(emulator, orders("o", 1))
    emulator.set_faults(export_header="labels")
    rows = list(hook.download_export(finished(hook, hook.create_export("order", [])["id"])))
    assert set(rows[0]) == {"id", "source_id", "status"}
    assert rows[0]["source_id"] == "o-0"


@pytest.mark.parametrize("final_status", ["ERROR", "CANCELED"])
def test_an_export_that_is_not_done_has_nothing_to_download(
    emulator: EmulatorServer, hook: VoucherifyHook, final_status: str
) -> None:
    emulator.set_faults(export_status=final_status)
    export = finished(hook, hook.create_export("order", ["source_id"])["id"])
    with pytest.raises(VoucherifyError, match=f"{export['id']} is {final_status}, not DONE"):
        hook.download_export(export)


def test_errors_name_the_endpoint_and_never_the_download_token(
    emulator: EmulatorServer, hook: VoucherifyHook
) -> None:
    with pytest.raises(VoucherifyApiError) as missing:
        hook.get_export("exp_unknown")
    assert missing.value.status_code == 404
    with pytest.raises(VoucherifyApiError) as refused:
        hook.create_export("order", ["source_id", "no_such_field"])
    assert refused.value.key == "invalid_export_fields"
    export = finished(hook, hook.create_export("order", ["source_id"])["id"])
    token = httpx.URL(export["result"]["url"]).params["token"]
    wrong = {**export, "result": {"url": export["result"]["url"].replace(token, "not-the-token")}}
    with pytest.raises(VoucherifyAuthError) as unauthorized:
        list(hook.download_export(wrong))
    assert "not-the-token" not in str(unauthorized.value)
    assert "token=***" in str(unauthorized.value)


def test_a_download_from_the_emulator_second_host_works_without_the_app_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EmulatorServer(tmp_path, orders_per_second=0, download_port=free_port()) as server:
        point_connection(monkeypatch, server)
        import_orders(server, orders("o", 3))
        hook = VoucherifyHook()
        try:
            export = finished(hook, hook.create_export("order", ["source_id", "status"])["id"])
            assert httpx.URL(export["result"]["url"]).host == "localhost"
            rows = list(hook.download_export(export))
        finally:
            hook.close()
        downloads = server.stats()["downloads"]
    assert [row["source_id"] for row in rows] == ["o-0", "o-1", "o-2"]
    assert downloads["requests"] == 1
    assert downloads["with_app_token"] == 0


@pytest.fixture
def foreign() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.close()


CSV = b"source_id,status\r\no-1,PAID\r\n"


def done_export(url: str) -> dict[str, Any]:
    return {
        "id": "exp_1",
        "status": "DONE",
        "parameters": {"fields": ["source_id", "status"]},
        "result": {"url": url},
    }


def test_a_redirect_to_another_host_does_not_carry_the_app_token(
    conn_env: ScriptedServer, foreign: ScriptedServer
) -> None:
    conn_env.script(Reply(302, headers={"Location": f"{foreign.url}/files/exp_1.csv?token=t"}))
    foreign.script(Reply(200, content=CSV))
    hook = VoucherifyHook()
    try:
        rows = list(hook.download_export(done_export(f"{conn_env.url}/v1/exports/exp_1?token=t")))
    finally:
        hook.close()
    assert rows == [{"source_id": "o-1", "status": "PAID"}]
    (own,) = conn_env.seen
    (other,) = foreign.seen
    assert own.headers.get("X-App-Token") == TOKEN
    assert own.headers.get("X-App-Id") == "app-id-1"
    assert "X-App-Token" not in other.headers
    assert "X-App-Id" not in other.headers
    assert other.path == "/files/exp_1.csv?token=t"


def test_a_foreign_host_gets_no_app_token_and_a_server_error_is_retried(
    conn_env: ScriptedServer, foreign: ScriptedServer
) -> None:
    foreign.script(Reply(503, body={"message": "busy"}), Reply(200, content=CSV))
    hook = VoucherifyHook()
    try:
        rows = list(hook.download_export(done_export(f"{foreign.url}/v1/exports/exp_1?token=t")))
    finally:
        hook.close()
    assert rows == [{"source_id": "o-1", "status": "PAID"}]
    assert len(foreign.seen) == 2
    assert not any("X-App-Token" in seen.headers or TOKEN.encode() in seen.body for seen in foreign.seen)
    assert conn_env.seen == []


def test_the_download_streams_in_flat_memory(conn_env: ScriptedServer) -> None:
    line = b"o-%07d,PAID,%s\r\n"
    body = b"source_id,status,note\r\n" + b"".join(line % (n, b"x" * 80) for n in range(100_000))
    assert len(body) > 9_000_000
    conn_env.script(Reply(200, content=body))
    export = {
        **done_export(f"{conn_env.url}/v1/exports/exp_1?token=t"),
        "parameters": {"fields": ["source_id", "status", "note"]},
    }
    hook = VoucherifyHook()
    try:
        tracemalloc.start()
        count = sum(1 for _ in hook.download_export(export))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        hook.close()
    assert count == 100_000
    assert peak < 2_000_000, f"peak {peak} bytes for a {len(body)}-byte file"
