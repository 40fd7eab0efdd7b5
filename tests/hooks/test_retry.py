"""The retry rules as a pure function (the HTTP behaviour is in test_voucherify.py)."""

from __future__ import annotations

import random

import httpx
import pytest

from airflow_provider_voucherify.exceptions import (
    VoucherifyApiError,
    VoucherifyRateLimitError,
    VoucherifyUnsafeRetryError,
)
from airflow_provider_voucherify.hooks._retry import backoff_delay, decide, server_wait
from airflow_provider_voucherify.rate_limits import RateLimit, read_rate_limit


def _decide(outcome: httpx.Response | httpx.TransportError, *, attempt: int = 0, safe: bool = True):  # type: ignore[no-untyped-def]
    return decide(
        "POST /v1/orders/import",
        outcome,
        attempt=attempt,
        max_retries=3,
        backoff=1.0,
        resend_safe=safe,
        now=1000.0,
        rng=random.Random(0),
    )


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(attempt, 1.0, rng) for attempt in range(10)]
    for attempt, delay in enumerate(delays):
        ceiling = min(60.0, 2.0**attempt)
        assert ceiling / 2 <= delay <= ceiling


def test_server_wait_takes_the_longest_instruction() -> None:
    assert server_wait({"retry-after": "7"}, now=1000.0) == 7.0
    assert server_wait({"x-rate-limit-retry": "1030"}, now=1000.0) == 30.0
    assert server_wait({"retry-after": "7", "x-rate-limit-retry": "1030"}, now=1000.0) == 30.0
    assert server_wait({"retry-after": "soon"}, now=1000.0) == 0.0


def test_429_waits_at_least_what_the_server_asks() -> None:
    decision = _decide(httpx.Response(429, headers={"Retry-After": "42"}))
    assert decision.wait is not None
    assert decision.wait >= 42


def test_last_attempt_raises_the_api_error() -> None:
    decision = _decide(httpx.Response(503, json={"key": "unavailable"}), attempt=3)
    assert isinstance(decision.error, VoucherifyApiError)


@pytest.mark.parametrize(
    "outcome",
    [httpx.Response(500), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("closed")],
    ids=["500", "read-timeout", "lost-answer"],
)
def test_unknown_outcome_is_retried_only_when_resending_is_safe(
    outcome: httpx.Response | httpx.TransportError,
) -> None:
    assert _decide(outcome, safe=True).wait is not None
    assert isinstance(_decide(outcome, safe=False).error, VoucherifyUnsafeRetryError)


def test_connect_error_is_always_retried() -> None:
    assert _decide(httpx.ConnectError("refused"), safe=False).wait is not None


def _limited(limit_type: str | None, retry_after: float) -> httpx.Response:
    headers = {"Retry-After": str(retry_after), "X-Rate-Limit-Retry": str(1000 + retry_after)}
    if limit_type:
        headers["X-Rate-Limit-Type"] = limit_type
    return httpx.Response(429, json={"code": 429, "key": "too_many_requests"}, headers=headers)


def test_429_within_max_rate_limit_wait_is_slept_through() -> None:
    decision = _decide(_limited("api_calls", 59))
    assert decision.wait is not None
    assert decision.wait >= 59


def test_429_asking_longer_than_max_rate_limit_wait_raises_at_once() -> None:
    decision = _decide(_limited("bulk_api_calls", 3540))
    error = decision.error
    assert isinstance(error, VoucherifyRateLimitError)
    assert (error.status_code, error.limit_type, error.retry_at) == (429, "bulk_api_calls", 4540.0)
    assert "max_rate_limit_wait=60 s" in str(error)
    assert "window reopens at 1970-01-01T01:15:40Z" in str(error)


def test_max_rate_limit_wait_is_a_parameter() -> None:
    outcome = _limited("bulk_api_calls", 3540)
    allowed = decide(
        "POST /v1/orders/import",
        outcome,
        attempt=0,
        max_retries=3,
        backoff=1.0,
        resend_safe=True,
        now=1000.0,
        rng=random.Random(0),
        max_rate_limit_wait=3600,
    )
    assert allowed.wait is not None
    assert allowed.wait >= 3540


def test_api_calls_cycle_always_raises_at_once_with_a_clear_message() -> None:
    error = _decide(_limited("api_calls_cycle", 1)).error
    assert isinstance(error, VoucherifyRateLimitError)
    assert error.limit_type == "api_calls_cycle"
    assert "quota of API calls for this billing cycle is used up" in str(error)
    assert "Waiting is pointless" in str(error)


def test_429_past_max_retries_is_a_rate_limit_error() -> None:
    error = _decide(_limited(None, 1), attempt=3).error
    assert isinstance(error, VoucherifyRateLimitError)
    assert error.limit_type is None
    assert error.retry_at == 1001.0


def test_429_without_a_time_has_no_retry_at() -> None:
    error = _decide(httpx.Response(429, json={"code": 429}), attempt=3).error
    assert isinstance(error, VoucherifyRateLimitError)
    assert error.retry_at is None


def test_rate_limit_headers_are_read_into_plain_data() -> None:
    headers = httpx.Headers({"X-Rate-Limit-Limit": "10", "X-Rate-Limit-Remaining": "3"})
    assert read_rate_limit(headers, now=5.0) == RateLimit(limit=10, remaining=3, limit_type=None, seen_at=5.0)
    assert read_rate_limit(httpx.Headers({"X-Rate-Limit-Type": "api_calls"}), now=0.0) == RateLimit(
        limit_type="api_calls"
    )
    assert read_rate_limit(httpx.Headers({"Content-Type": "application/json"}), now=0.0) is None
