"""What the operators ask of Airflow on the engines' behalf: fail without a retry, defer until a moment.

The engines decide (:mod:`~airflow_provider_voucherify.error_policy` says which errors a task retry
cannot cure; the import and the reconciliation say when a rate limit's window reopens); this module
turns those decisions into Airflow's terms: ``AirflowFailException`` and a deferral to Airflow's
own ``DateTimeTrigger``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, NoReturn

from airflow.providers.standard.triggers.temporal import DateTimeTrigger

from airflow_provider_voucherify.error_policy import retry_cannot_cure

try:  # Airflow >= 3.2 moved it to the Task SDK and deprecated the old name.
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,attr-defined,unused-ignore]

__all__ = ["AirflowFailException", "defer_until", "fail_fast"]


@contextmanager
def fail_fast(what: str) -> Iterator[None]:
    """Re-raise an error :func:`~airflow_provider_voucherify.error_policy.retry_cannot_cure` as
    ``AirflowFailException`` (no retry), with the original as ``__cause__``.

    :param what: what was being done, e.g. ``"Import"``; starts the message
    """
    try:
        yield
    except AirflowFailException:
        raise
    except Exception as exc:
        if not retry_cannot_cure(exc):
            raise
        raise AirflowFailException(
            f"{what} failed, not retried (a retry would fail the same way): {exc}"
        ) from exc


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
