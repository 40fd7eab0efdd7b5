"""Posting one batch under a rate limit: defer (or wait in the worker) until the window reopens.

A 429 the hook does not sleep through (longer than ``max_rate_limit_wait``) reaches the operator
as :class:`~airflow_provider_voucherify.exceptions.VoucherifyRateLimitError`. The quota of a
billing cycle is re-raised (waiting days is pointless); any other limit records where the refused
batch starts in ``state`` and then either calls ``defer`` (which raises ``TaskDeferred``) or
sleeps until ``retry_at`` and posts the same batch again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, NoReturn

from airflow_provider_voucherify.exceptions import VoucherifyRateLimitError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.operators._batching import Batch
from airflow_provider_voucherify.operators._body_limit import BodyLimit, SendBody, send_within_limit
from airflow_provider_voucherify.operators._continuation import Continuation, Position, SourceIdentity
from airflow_provider_voucherify.operators._plan_view import PlanView, batches_left, when
from airflow_provider_voucherify.operators._rate_window import reopens_at, sleep_until


def post_batch(
    hook: VoucherifyHook,
    batch: Batch,
    *,
    state: Continuation,
    start: Position,
    identity: SourceIdentity | None,
    total: int | None,
    fraction: float | None,
    plan: PlanView,
    batch_size: int,
    log: logging.Logger | Any,
    defer: Callable[[float, Continuation], NoReturn] | None,
    body_limit: BodyLimit,
) -> list[str]:
    """Post ``batch`` (``POST /v1/orders/import``) and return the async action id of each request:
    one, or several when a 413 made it split the batch under ``body_limit``.

    :param start: where ``batch`` starts in the source (a deferral continues there), and
        ``identity`` the source's identity
    :param total: the number of records when known (a list); ``fraction``: the share of the file
        read when ``batch`` was made; both only estimate the batches left, for the log
    :param defer: called with ``retry_at`` (epoch seconds) and ``state`` to defer the task; ``None``
        waits in the worker instead
    :raises VoucherifyRateLimitError: for ``api_calls_cycle``
    """
    while True:
        try:
            action_ids = send_within_limit(_sender(hook), batch, body_limit, log)
        except VoucherifyRateLimitError as exc:
            retry_at = reopens_at(exc)  # re-raises the billing cycle's quota
            seen = hook.rate_limit
            plan.refused(retry_at, seen.limit if seen and seen.limit_type == exc.limit_type else None)
            left = batches_left(total, start.read, batch_size, batch.number - 1, fraction)
            log.info(
                "%s limit: batch %d refused; it continues at %s (in %.0f s), %s batches remain%s",
                exc.limit_type or "rate",
                batch.number,
                when(retry_at),
                max(retry_at - time.time(), 0.0),
                "an unknown number of" if left is None else f"about {left}",
                "; deferring: the worker and the pool slot are free meanwhile" if defer else "",
            )
            state.position, state.identity = start, identity
            state.plan, state.waits = plan.to_dict(), state.waits + 1
            if defer is not None:
                defer(retry_at, state)
            sleep_until(retry_at)
            log.info("Window reopened: sending batch %d again", batch.number)
            continue
        plan.accepted(time.time())
        return action_ids


def _sender(hook: VoucherifyHook) -> SendBody:
    def send(body: bytes, count: int, resend_safe: bool) -> str:
        return hook.import_serialized(body, count=count, resend_safe=resend_safe)

    return send
