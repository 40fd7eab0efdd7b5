"""The retry rules as a pure function (the HTTP behaviour is in test_voucherify.py)."""

from __future__ import annotations

import random

import httpx
import pytest

from airflow_provider_voucherify.exceptions import VoucherifyApiError, VoucherifyUnsafeRetryError
from airflow_provider_voucherify.hooks._retry import backoff_delay, decide, server_wait


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
