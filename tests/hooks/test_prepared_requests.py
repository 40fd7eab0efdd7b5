"""What a poll costs the async hook: each GET is built once and sent again every poll (answers
still fresh), over one connection kept between polls."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace
from typing import Any

import pytest
from httpcore._async import http11

from airflow_provider_voucherify.hooks._async_send import MAX_PREPARED_REQUESTS
from airflow_provider_voucherify.hooks._clients import KEEPALIVE_EXPIRY
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.models import ActionStatus, AsyncAction, parse_action_list
from tests.hooks.conftest import TOKEN
from tests.hooks.scripted_server import Reply, ScriptedServer


def action(status: str, progress: int) -> dict[str, Any]:
    return {"id": "aa_1", "type": "ORDERS.IMPORT", "status": status, "progress": progress}


def page(*entries: dict[str, Any]) -> Reply:
    return Reply(200, {"object": "list", "async_actions": list(entries), "has_more": False})


def test_a_reused_request_reads_each_answer_fresh_with_the_right_url_and_headers(
    conn_env: ScriptedServer,
) -> None:
    conn_env.script(
        Reply(200, action("ENQUEUED", 0)),
        Reply(200, action("IN_PROGRESS", 40)),
        page(action("IN_PROGRESS", 60)),
        page(action("IN_PROGRESS", 80)),
        page(),
        Reply(200, action("DONE", 100)),
    )

    window, later = "2027-01-15T08:00:00.001000+00:00", "2027-01-15T09:00:00+00:00"

    async def run() -> tuple[list[Any], list[Any], int, Any]:
        hook = VoucherifyHook()
        try:
            gets = [await hook.aget_async_action("aa_1"), await hook.aget_async_action("aa_1")]
            pages = [
                await hook.alist_async_actions(end_date=when, ids={"aa_1"})
                for when in (window, window, later)
            ]
            prepared = len(hook._prepared)
            await hook.aclose()  # a new client after closing: its requests are built again
            return gets, pages, prepared, await hook.aget_async_action("aa_1")
        finally:
            await hook.aclose()

    gets, pages, prepared, again = asyncio.run(run())

    assert [a.status for a in gets] == [ActionStatus.ENQUEUED, ActionStatus.IN_PROGRESS]
    assert [[a.progress for a in listed] for listed in pages] == [[60], [80], []]
    assert again.status is ActionStatus.DONE
    assert prepared == 3, "one GET by id and two list windows"
    assert [request.path for request in conn_env.seen] == [
        "/v1/async-actions/aa_1",
        "/v1/async-actions/aa_1",
        "/v1/async-actions?limit=100&end_date=2027-01-15T08%3A00%3A00.001000%2B00%3A00",
        "/v1/async-actions?limit=100&end_date=2027-01-15T08%3A00%3A00.001000%2B00%3A00",
        "/v1/async-actions?limit=100&end_date=2027-01-15T09%3A00%3A00%2B00%3A00",
        "/v1/async-actions/aa_1",
    ]
    assert all(request.headers["X-App-Token"] == TOKEN for request in conn_env.seen)


def test_the_prepared_requests_stay_few(conn_env: ScriptedServer) -> None:
    count = MAX_PREPARED_REQUESTS + 5
    conn_env.script(*[Reply(200, {**action("DONE", 100), "id": f"aa_{n}"}) for n in range(count)])

    async def run() -> int:
        hook = VoucherifyHook()
        try:
            for n in range(count):
                assert (await hook.aget_async_action(f"aa_{n}")).id == f"aa_{n}"
            return len(hook._prepared)
        finally:
            await hook.aclose()

    assert asyncio.run(run()) <= MAX_PREPARED_REQUESTS


def test_a_list_page_reads_null_entries_as_empty() -> None:
    assert [parse_action_list(content).page_size for content in (b'{"async_actions": null}', b"{}")] == [0, 0]


@pytest.mark.parametrize("content", [b"not json", b'{"async_actions": "x"}', b'{"async_actions": [1]}'])
def test_a_list_answer_that_is_not_a_page_is_refused(content: bytes) -> None:
    with pytest.raises(ValueError):
        parse_action_list(content)


def test_a_list_page_keeps_every_field_an_async_action_reads() -> None:
    entry = {
        "id": "aa_1",
        "type": "ORDERS.IMPORT",
        "status": "DONE",
        "progress": 100,
        "result": {"done_count": 2},
        "request_id": "v-1",
        "created_at": "2027-01-15T08:00:00Z",
        "updated_at": "2027-01-15T08:01:00Z",
        "processing_time": 60000,
        "object": "async_action",
    }
    assert set(entry) - {"object"} == set(AsyncAction.model_fields), (
        "a field added to AsyncAction: add it here"
    )

    (listed,) = parse_action_list(json.dumps({"async_actions": [entry]}).encode(), {"aa_1"})

    assert listed == AsyncAction.model_validate(entry)


@pytest.mark.parametrize(("idle", "connections"), [(30.0, 1), (KEEPALIVE_EXPIRY + 1, 2)])
def test_polls_a_few_seconds_apart_share_one_connection(
    conn_env: ScriptedServer, monkeypatch: pytest.MonkeyPatch, idle: float, connections: int
) -> None:
    conn_env.script(Reply(200, action("IN_PROGRESS", 10)), Reply(200, action("IN_PROGRESS", 20)))
    # httpcore judges a kept connection by its monotonic clock: move that clock, not the test's.
    skipped = [0.0]
    monkeypatch.setattr(http11, "time", SimpleNamespace(monotonic=lambda: time.monotonic() + skipped[0]))

    async def run() -> None:
        hook = VoucherifyHook()
        try:
            await hook.aget_async_action("aa_1")
            skipped[0] = idle  # the next poll comes `idle` seconds later
            await hook.aget_async_action("aa_1")
        finally:
            await hook.aclose()

    asyncio.run(run())

    assert len({request.peer for request in conn_env.seen}) == connections
