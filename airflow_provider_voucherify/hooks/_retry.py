"""When to resend a request, how long to wait, and which error to raise: pure, no I/O.

The sync and async request loops of the hook both ask :func:`decide` after every attempt, so
the retry rules exist once; which statuses a resend can cure is the error policy's
(:mod:`~airflow_provider_voucherify.error_policy`), what a 429 asks for is the rate limits'
(:mod:`~airflow_provider_voucherify.rate_limits`).
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass

import httpx

from airflow_provider_voucherify.error_policy import OUTCOME_UNKNOWN_STATUSES, resend_can_cure
from airflow_provider_voucherify.exceptions import (
    API_CALLS_CYCLE,
    VoucherifyApiError,
    VoucherifyAuthError,
    VoucherifyError,
    VoucherifyNotApiError,
    VoucherifyRateLimitError,
    VoucherifyTransportError,
    VoucherifyUnsafeRetryError,
)
from airflow_provider_voucherify.hooks._extras import DEFAULT_MAX_RATE_LIMIT_WAIT
from airflow_provider_voucherify.rate_limits import retry_at, server_wait

MAX_BACKOFF = 60.0
# What the first bytes of every answer of the API are: a JSON object or array.
_JSON_STARTS = (b"{", b"[")
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryDecision:
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


def not_api_answer(endpoint: str, response: httpx.Response) -> VoucherifyNotApiError | None:
    """The error for a success answer that is not the API's JSON (an HTML page: the dashboard's
    address, a captive proxy), or ``None`` for a JSON one. Every successful answer passes here,
    before any parsing, so a wrong host is one clear error instead of a parser's."""
    content_type = response.headers.get("content-type")
    json_type = content_type is not None and "json" in content_type.lower()
    if json_type and response.content[:64].lstrip()[:1] in _JSON_STARTS:  # no copy of the body
        return None
    page = response.content[:4096]
    described = content_type.split(";")[0].strip() if content_type else "no Content-Type"
    if b"<html" in page.lower() or b"<!doctype html" in page.lower():
        title = _TITLE.search(page)
        named = (
            f" titled {' '.join(title.group(1).decode('utf-8', 'replace').split())[:80]!r}" if title else ""
        )
        likely = (
            f"an HTML page{named}: the host is a web page, not the API (the Voucherify dashboard's "
            "address, or a proxy's or captive portal's login page)"
        )
    else:
        likely = f"{len(response.content)} bytes of {described}: the host is probably not the API"
    return VoucherifyNotApiError(
        f"{endpoint} answered {response.status_code} with {likely}, not the API's JSON. Set the "
        "connection's host to the API's base URL: api (https://api.voucherify.io), us1.api or "
        "as1.api, the cluster of the project (not the dashboard's app.voucherify.io)",
        endpoint=endpoint,
        status_code=response.status_code,
        content_type=content_type,
    )


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
) -> RetryDecision:
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
                return RetryDecision(error=error)
            if server_wait(outcome.headers, now) > max_rate_limit_wait:
                longer = api_error(endpoint, outcome, now, waited_limit=max_rate_limit_wait)
                return RetryDecision(error=longer)
        retryable = resend_can_cure(status, resend_safe=resend_safe)
        if status in OUTCOME_UNKNOWN_STATUSES and not resend_safe:
            return RetryDecision(error=_unsafe(endpoint, f"answered {status}", error))
        wait_floor = server_wait(outcome.headers, now) if status == 429 else 0.0
    else:
        error = VoucherifyTransportError(f"{endpoint}: {type(outcome).__name__}: {outcome}")
        error.__cause__ = outcome
        retryable = isinstance(outcome, NOT_SENT_ERRORS) or resend_safe
        if not retryable:
            return RetryDecision(error=_unsafe(endpoint, f"got no answer ({type(outcome).__name__})", error))
        wait_floor = 0.0
    if not retryable or attempt >= max_retries:
        return RetryDecision(error=error)
    return RetryDecision(wait=max(wait_floor, backoff_delay(attempt, backoff, rng)))


def _unsafe(endpoint: str, what: str, cause: VoucherifyError) -> VoucherifyUnsafeRetryError:
    error = VoucherifyUnsafeRetryError(
        f"{endpoint} {what}, so the import may or may not have been accepted. It is not retried "
        "because some orders of the batch have no source_id, and sending them again could "
        "duplicate them. Give every order a source_id to make imports safe to retry."
    )
    error.__cause__ = cause
    return error
