"""The hook and rate limits over real HTTP: ``hook.rate_limit``, ``max_rate_limit_wait``, cycle quota."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_provider_voucherify import VoucherifyRateLimitError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.rate_limits import RateLimit
from tests.hooks.conftest import TOKEN
from tests.hooks.scripted_server import Reply, ScriptedServer

ACCEPTED = Reply(
    200, {"async_action_id": "aa_1"}, headers={"X-Rate-Limit-Limit": "10", "X-Rate-Limit-Remaining": "9"}
)
ORDERS = [{"source_id": "o-1", "status": "PAID", "amount": 100}]
LISTING = {"object": "list", "data_ref": "async_actions", "async_actions": [], "has_more": False}


def _limited(limit_type: str, retry_after: float) -> Reply:
    return Reply(
        429,
        {"code": 429, "key": "too_many_requests", "message": "Too many requests", "request_id": "v-429"},
        headers={
            "Retry-After": str(retry_after),
            "X-Rate-Limit-Retry": str(int(time.time() + retry_after)),
            "X-Rate-Limit-Limit": "10",
            "X-Rate-Limit-Remaining": "0",
            "X-Rate-Limit-Type": limit_type,
        },
    )


def test_rate_limit_is_none_until_an_answer_carries_the_headers(conn_env: ScriptedServer) -> None:
    conn_env.script(Reply(200, LISTING), ACCEPTED, Reply(200, LISTING))
    hook = VoucherifyHook()
    assert hook.rate_limit is None
    hook.list_async_actions(limit=1)
    assert hook.rate_limit is None  # no X-Rate-Limit-* headers: nothing seen yet
    before = time.time()
    hook.import_orders(ORDERS)
    seen = hook.rate_limit
    assert seen is not None
    assert (seen.limit, seen.remaining, seen.limit_type) == (10, 9, None)
    assert seen.seen_at >= before
    hook.list_async_actions(limit=1)
    assert hook.rate_limit is seen  # an answer without the headers keeps the latest values


def test_rate_limit_is_updated_by_the_429_it_raises(conn_env: ScriptedServer) -> None:
    conn_env.script(_limited("bulk_api_calls", 3000))
    hook = VoucherifyHook()
    with pytest.raises(VoucherifyRateLimitError):
        hook.import_orders(ORDERS)
    assert hook.rate_limit is not None
    assert (hook.rate_limit.remaining, hook.rate_limit.limit_type) == (0, "bulk_api_calls")


def test_a_wait_longer_than_max_rate_limit_wait_raises_at_once(conn_env: ScriptedServer) -> None:
    conn_env.script(_limited("bulk_api_calls", 3000), ACCEPTED)
    started = time.monotonic()
    with pytest.raises(VoucherifyRateLimitError) as caught:
        VoucherifyHook().import_orders(ORDERS)
    assert time.monotonic() - started < 2
    assert len(conn_env.seen) == 1
    error = caught.value
    assert (error.status_code, error.limit_type, error.request_id) == (429, "bulk_api_calls", "v-429")
    assert error.retry_at is not None
    assert abs(error.retry_at - (time.time() + 3000)) < 5
    assert "max_rate_limit_wait=60 s" in str(error)
    assert TOKEN not in str(error)


def test_a_wait_within_max_rate_limit_wait_is_slept_through(conn_env: ScriptedServer) -> None:
    conn_env.script(_limited("api_calls", 1), ACCEPTED)
    assert VoucherifyHook(max_rate_limit_wait=2).import_orders(ORDERS) == "aa_1"
    first, second = conn_env.seen
    assert second.at - first.at >= 1.0


def test_max_rate_limit_wait_comes_from_the_connection_extra(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOUCHERIFY_DEFAULT",
        json.dumps(
            {
                "conn_type": "voucherify",
                "host": server.url,
                "login": "app-id-1",
                "password": TOKEN,
                "extra": {"max_retries": 3, "retry_backoff": 0.01, "max_rate_limit_wait": 0.5},
            }
        ),
    )
    server.script(_limited("api_calls", 1))
    hook = VoucherifyHook()
    assert hook.settings.max_rate_limit_wait == 0.5
    with pytest.raises(VoucherifyRateLimitError, match=r"max_rate_limit_wait=0\.5 s"):
        hook.list_async_actions(limit=1)
    assert len(server.seen) == 1
    assert VoucherifyHook(max_rate_limit_wait=5).settings.max_rate_limit_wait == 5  # argument wins


def test_billing_cycle_quota_raises_at_once_whatever_the_wait(conn_env: ScriptedServer) -> None:
    conn_env.script(_limited("api_calls_cycle", 1), Reply(200, LISTING))
    with pytest.raises(VoucherifyRateLimitError) as caught:
        VoucherifyHook(max_rate_limit_wait=3600).list_async_actions(limit=1)
    assert len(conn_env.seen) == 1
    assert caught.value.limit_type == "api_calls_cycle"
    assert "quota of API calls for this billing cycle is used up" in str(caught.value)


def test_async_loop_updates_rate_limit_and_raises_the_same_way(conn_env: ScriptedServer) -> None:
    conn_env.script(
        Reply(200, LISTING, headers={"X-Rate-Limit-Limit": "100", "X-Rate-Limit-Remaining": "42"}),
        _limited("api_calls", 600),
    )

    async def run() -> tuple[RateLimit | None, VoucherifyRateLimitError]:
        hook = VoucherifyHook()
        try:
            await hook.alist_async_actions(limit=1)
            seen = hook.rate_limit
            try:
                await hook.aget_async_action("aa_1")
            except VoucherifyRateLimitError as exc:
                return seen, exc
            raise AssertionError("no rate-limit error")
        finally:
            await hook.aclose()

    seen, error = asyncio.run(run())
    assert seen is not None
    assert (seen.limit, seen.remaining) == (100, 42)
    assert error.limit_type == "api_calls"
    assert len(conn_env.seen) == 2
