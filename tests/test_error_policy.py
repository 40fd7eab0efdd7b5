"""The error policy: one table of which errors a resend, a wait, a window or a task retry can cure."""

from __future__ import annotations

import gzip

import pytest

from airflow_provider_voucherify.error_policy import (
    RETRY_UNNAMED_WAIT,
    reopens_at,
    resend_can_cure,
    retry_cannot_cure,
    waiting_can_cure,
)
from airflow_provider_voucherify.exceptions import (
    API_CALLS_CYCLE,
    ConnectionConfigError,
    InvalidOrderError,
    VoucherifyApiError,
    VoucherifyAuthError,
    VoucherifyError,
    VoucherifyRateLimitError,
    VoucherifyTransportError,
    VoucherifyUnsafeRetryError,
)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (VoucherifyApiError("GET /v1/async-actions", 429), True),
        (VoucherifyApiError("GET /v1/async-actions", 500), True),
        (VoucherifyApiError("GET /v1/async-actions", 503), True),
        (VoucherifyTransportError("connection refused"), True),
        (VoucherifyApiError("GET /v1/async-actions/{id}", 404), False),
        (VoucherifyApiError("GET /v1/async-actions", 400), False),
        (VoucherifyAuthError("GET /v1/async-actions", 401), False),
        (ValueError("bad"), False),
    ],
)
def test_only_errors_that_waiting_can_cure_let_a_wait_poll_on(error: Exception, transient: bool) -> None:
    assert waiting_can_cure(error) is transient


def limit(limit_type: str | None, retry_at: float | None = 1_000.0) -> VoucherifyRateLimitError:
    return VoucherifyRateLimitError("POST /v1/orders/import", 429, limit_type=limit_type, retry_at=retry_at)


def test_a_window_reopens_when_the_429_says_and_the_billing_cycle_is_raised() -> None:
    assert reopens_at(limit("bulk_api_calls")) == 1_000.0
    assert reopens_at(limit("api_calls", retry_at=None), now=50.0) == 50.0 + RETRY_UNNAMED_WAIT
    cycle = limit(API_CALLS_CYCLE)
    with pytest.raises(VoucherifyRateLimitError) as raised:
        reopens_at(cycle)
    assert raised.value is cycle


@pytest.mark.parametrize(
    ("status", "resend_safe", "cured"),
    [
        (429, False, True),
        (502, False, True),
        (503, True, True),
        (504, False, True),
        (500, True, True),
        (500, False, False),
        (400, True, False),
        (401, True, False),
        (404, True, False),
        (413, True, False),
    ],
)
def test_a_resend_cures_refusals_before_any_work_and_unknown_outcomes_only_when_safe(
    status: int, resend_safe: bool, cured: bool
) -> None:
    assert resend_can_cure(status, resend_safe=resend_safe) is cured


@pytest.mark.parametrize(
    ("error", "cannot_cure"),
    [
        (VoucherifyAuthError("GET /v1/async-actions", 401), True),
        (VoucherifyApiError("POST /v1/orders/import", 400), True),
        (VoucherifyApiError("GET /v1/async-actions/{id}", 404), True),
        (VoucherifyApiError("GET /v1/async-actions", 503), False),
        (VoucherifyTransportError("connection refused"), False),
        (InvalidOrderError([("", "bad")], line=1), True),
        (ConnectionConfigError("bad host"), True),
        (VoucherifyUnsafeRetryError("may have landed"), True),
        (limit(API_CALLS_CYCLE), True),
        (limit("bulk_api_calls"), False),
        (gzip.BadGzipFile("not gzip"), True),
        (VoucherifyError("Import failed: an async action ended FAILED"), False),
    ],
)
def test_a_task_retry_is_refused_for_what_would_fail_the_same_way(
    error: BaseException, cannot_cure: bool
) -> None:
    assert retry_cannot_cure(error) is cannot_cure
