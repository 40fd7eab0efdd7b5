"""The rules for ImportOrdersOperator's arguments, checked when the DAG is parsed: pure, no I/O."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from typing import Any

from airflow_provider_voucherify.importing.validation import ON_INVALID_CHOICES, historical_cutoff
from airflow_provider_voucherify.models import MAX_ORDERS_PER_IMPORT


def check_options(
    *,
    batch_size: int,
    on_invalid: str,
    max_invalid: int,
    rejects_path: str | os.PathLike[str] | None,
    created_at_metadata_key: str | None,
    poll_interval: float,
    max_failed_orders: int,
    timeout: timedelta | float,
) -> float:
    """Raise a clear ``TypeError`` / ``ValueError`` for a bad argument; return ``timeout`` in seconds."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
    if not 1 <= batch_size <= MAX_ORDERS_PER_IMPORT:
        raise ValueError(f"batch_size must be between 1 and {MAX_ORDERS_PER_IMPORT}, got {batch_size}")
    if on_invalid not in ON_INVALID_CHOICES:
        raise ValueError(f"on_invalid must be one of {ON_INVALID_CHOICES}, got {on_invalid!r}")
    if max_invalid < 0 or max_failed_orders < 0:
        raise ValueError("max_invalid and max_failed_orders must not be negative")
    if on_invalid == "fail" and (max_invalid or rejects_path):
        raise ValueError('max_invalid and rejects_path apply to on_invalid="skip" only')
    if created_at_metadata_key == "":
        raise ValueError("created_at_metadata_key must be a metadata key or None")
    if poll_interval <= 0:
        raise ValueError(f"poll_interval must be positive, got {poll_interval}")
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    if seconds <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    return seconds


# Orders created less than this long before the task starts belong to on-going sync.
DEFAULT_HISTORICAL_WINDOW = timedelta(hours=24)


def task_cutoff(value: datetime | str | timedelta | None, context: Any) -> datetime | None:
    """``historical_before`` as a moment: a ``timedelta`` counts back from the task's start."""
    ti = context.get("ti") if hasattr(context, "get") else None
    started = getattr(ti, "start_date", None)
    if not isinstance(started, datetime):
        started = datetime.now(timezone.utc)
    return historical_cutoff(value, started)


def as_flag(value: bool | str, name: str) -> bool:
    """A templated boolean: ``True``/``False``, or its rendered text (``"false"``, ``"0"``, ...)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", "none", ""):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def one_import_at_a_time(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with ``max_active_tis_per_dag=1`` unless it is given (here or in ``default_args``):
    Voucherify runs one import per project at a time, so a second one only races the first."""
    if "max_active_tis_per_dag" in kwargs or "max_active_tis_per_dag" in (kwargs.get("default_args") or {}):
        return kwargs
    return {**kwargs, "max_active_tis_per_dag": 1}


# Whether the scheduler counts deferred task instances against max_active_tis_per_dag: from Airflow
# 3.3 (apache/airflow#61769); 3.1 and 3.2.0 count running and queued ones only (#61700).
AIRFLOW_VERSION = version("apache-airflow")
DEFERRED_COUNT_AGAINST_LIMITS = tuple(int(n) for n in re.findall(r"\d+", AIRFLOW_VERSION)[:2]) >= (3, 3)


def worker_waits_why(max_active_tis_per_dag: int | None) -> str | None:
    """Why an import waits for a rate-limit window in the worker although deferrable, or ``None``
    when it may defer: limited to N at a time on an Airflow whose scheduler does not count a
    deferred task against that limit, a deferred import would let another run's import start."""
    if max_active_tis_per_dag is None or DEFERRED_COUNT_AGAINST_LIMITS:
        return None
    return (
        f"rate-limit windows are waited for in the worker, not deferred: on Airflow "
        f"{AIRFLOW_VERSION} a deferred task does not count against "
        f"max_active_tis_per_dag={max_active_tis_per_dag}, so another run's import could start "
        "meanwhile (Airflow 3.3 counts it; a pool with include_deferred=True keeps the limit too)"
    )
