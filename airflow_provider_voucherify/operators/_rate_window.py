"""A rate limit's window, as operators meet it: when it reopens, and the two ways to wait for it.

A 429 the hook does not sleep through (longer than ``max_rate_limit_wait``) reaches an operator as
:class:`~airflow_provider_voucherify.exceptions.VoucherifyRateLimitError`. The quota of a billing
cycle is re-raised (the cycle ends days away: waiting is pointless); any other limit names the
moment its window reopens, which the operator then waits for in the worker (:func:`sleep_until`)
or in the triggerer (:func:`defer_until`, Airflow's ``DateTimeTrigger``).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, NoReturn

from airflow.providers.standard.triggers.temporal import DateTimeTrigger

from airflow_provider_voucherify.exceptions import API_CALLS_CYCLE, VoucherifyRateLimitError

# A 429 that names no time (never seen from Voucherify): come back in a minute.
RETRY_UNNAMED_WAIT = 60.0


def reopens_at(exc: VoucherifyRateLimitError) -> float:
    """When (epoch seconds) the window that refused the call reopens.

    :raises VoucherifyRateLimitError: ``exc`` itself for ``api_calls_cycle``
    """
    if exc.limit_type == API_CALLS_CYCLE:
        raise exc
    return exc.retry_at if exc.retry_at is not None else time.time() + RETRY_UNNAMED_WAIT


def sleep_until(moment: float) -> None:
    """Wait in the worker until ``moment`` (epoch seconds)."""
    time.sleep(max(moment - time.time(), 0.0))


def defer_until(operator: Any, moment: float, method_name: str, kwargs: dict[str, Any]) -> NoReturn:
    """Defer ``operator`` until ``moment`` (epoch seconds); Airflow then calls ``method_name``.

    :raises TaskDeferred: always (that is how a task defers)
    """
    operator.defer(
        trigger=DateTimeTrigger(moment=datetime.fromtimestamp(moment, tz=timezone.utc)),
        method_name=method_name,
        kwargs=kwargs,
    )
    raise AssertionError("BaseOperator.defer returned")  # pragma: no cover - it always raises
