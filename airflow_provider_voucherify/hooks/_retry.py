"""When to retry a request, how long to wait, and which error to raise: pure, no I/O.

The sync and async request loops of the hook both ask :func:`decide` after every attempt, so
the retry rules exist once.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from airflow_provider_voucherify.exceptions import (
    API_CALLS_CYCLE,
    VoucherifyApiError,
    VoucherifyAuthError,
    VoucherifyError,
    VoucherifyRateLimitError,
    VoucherifyTransportError,
    VoucherifyUnsafeRetryError,
)
from airflow_provider_voucherify.hooks._config import DEFAULT_MAX_RATE_LIMIT_WAIT

MAX_BACKOFF = 60.0
# Rejected before the server did anything: always safe to send again.
RETRY_ALWAYS_STATUSES = frozenset({429, 502, 503, 504})
# The server may have acted on the request before failing.
OUTCOME_UNKNOWN_STATUSES = frozenset({500})
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Decision:
    """Retry after ``wait`` seconds, or raise ``error``."""

    wait: float | None = None
    error: VoucherifyError | None = None


def api_error(
    endpoint: str,
    response: httpx.Response,
    now: float | None = None,
    *,
    waited_limit: float | None = None,
) -> VoucherifyApiError:
    """Build the error for an error response; handles both of the API's body shapes.

    A 429 becomes a :class:`VoucherifyRateLimitError` carrying the limit's type and when its
    window reopens (``now``: epoch seconds, default the wall clock); ``waited_limit`` is the
    hook's ``max_rate_limit_wait`` when the wait asked for was longer.
    """
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        body = {}
    # 413 answers {"statusCode", "error", "message"}; every other error {"code", "key", ...}.
    key = body.get("key") or body.get("error")
    message = body.get("message")
    details = body.get("details")
    request_id = body.get("request_id") or response.headers.get("x-request-id")
    fields = {
        "key": str(key) if key is not None else None,
        "message": str(message) if message is not None else None,
        "details": details if isinstance(details, str) or details is None else json.dumps(details),
        "request_id": str(request_id) if request_id is not None else None,
    }
    if response.status_code == 429:
        return VoucherifyRateLimitError(
            endpoint,
            429,
            limit_type=response.headers.get("x-rate-limit-type") or None,
            retry_at=retry_at(response.headers, now if now is not None else time.time()),
            waited_limit=waited_limit,
            **fields,
        )
    cls = VoucherifyAuthError if response.status_code in (401, 403) else VoucherifyApiError
    return cls(endpoint, response.status_code, **fields)


def server_wait(headers: Mapping[str, str], now: float) -> float:
    """Seconds the API asked us to wait (``Retry-After`` or ``X-Rate-Limit-Retry``), 0 if none."""
    waits = [0.0]
    retry_after = headers.get("retry-after")
    if retry_after:
        try:
            waits.append(float(retry_after))
        except ValueError:
            with contextlib.suppress(TypeError, ValueError):
                waits.append(parsedate_to_datetime(retry_after).timestamp() - now)
    retry_at = headers.get("x-rate-limit-retry")
    if retry_at:
        with contextlib.suppress(ValueError):
            waits.append(float(retry_at) - now)
    return max(waits)


def retry_at(headers: Mapping[str, str], now: float) -> float | None:
    """Epoch seconds when the API said to come back, or ``None`` when it named no time."""
    if not (headers.get("retry-after") or headers.get("x-rate-limit-retry")):
        return None
    return now + server_wait(headers, now)


def backoff_delay(attempt: int, base: float, rng: random.Random) -> float:
    """Exponential backoff with equal jitter: between half and all of ``base * 2**attempt``."""
    ceiling = min(MAX_BACKOFF, base * 2.0**attempt)
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def decide(
    endpoint: str,
    outcome: httpx.Response | httpx.TransportError,
    *,
    attempt: int,
    max_retries: int,
    backoff: float,
    resend_safe: bool,
    now: float,
    rng: random.Random,
    max_rate_limit_wait: float = DEFAULT_MAX_RATE_LIMIT_WAIT,
) -> Decision:
    """What to do after attempt number ``attempt`` (0-based) failed with ``outcome``.

    :param resend_safe: whether sending the request again cannot do harm even if the first one
        was acted on (every GET; an import whose orders all carry a ``source_id``)
    :param max_rate_limit_wait: the longest sleep on one 429; a 429 asking for longer, or one
        of type ``api_calls_cycle`` (the billing cycle's quota, spent for days), raises
        :class:`VoucherifyRateLimitError` at once instead
    """
    if isinstance(outcome, httpx.Response):
        error: VoucherifyError = api_error(endpoint, outcome, now)
        status = outcome.status_code
        if isinstance(error, VoucherifyRateLimitError):
            if error.limit_type == API_CALLS_CYCLE:
                return Decision(error=error)
            if server_wait(outcome.headers, now) > max_rate_limit_wait:
                return Decision(error=api_error(endpoint, outcome, now, waited_limit=max_rate_limit_wait))
        retryable = status in RETRY_ALWAYS_STATUSES or (status in OUTCOME_UNKNOWN_STATUSES and resend_safe)
        if status in OUTCOME_UNKNOWN_STATUSES and not resend_safe:
            return Decision(error=_unsafe(endpoint, f"answered {status}", error))
        wait_floor = server_wait(outcome.headers, now) if status == 429 else 0.0
    else:
        error = VoucherifyTransportError(f"{endpoint}: {type(outcome).__name__}: {outcome}")
        error.__cause__ = outcome
        retryable = isinstance(outcome, NOT_SENT_ERRORS) or resend_safe
        if not retryable:
            return Decision(error=_unsafe(endpoint, f"got no answer ({type(outcome).__name__})", error))
        wait_floor = 0.0
    if not retryable or attempt >= max_retries:
        return Decision(error=error)
    return Decision(wait=max(wait_floor, backoff_delay(attempt, backoff, rng)))


def _unsafe(endpoint: str, what: str, cause: VoucherifyError) -> VoucherifyUnsafeRetryError:
    error = VoucherifyUnsafeRetryError(
        f"{endpoint} {what}, so the import may or may not have been accepted. It is not retried "
        "because some orders of the batch have no source_id, and sending them again could "
        "duplicate them. Give every order a source_id to make imports safe to retry."
    )
    error.__cause__ = cause
    return error
