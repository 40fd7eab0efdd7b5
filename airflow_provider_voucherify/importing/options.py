"""The rules for an import's arguments, checked when the DAG is parsed: pure, no I/O.

:class:`~airflow_provider_voucherify.operators.import_orders.ImportOrdersOperator` calls
:func:`check_options` in its constructor, so a bad argument fails the DAG's parse with a clear
``TypeError`` or ``ValueError`` instead of failing a task hours later.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow_provider_voucherify.importing.validation import ON_INVALID_CHOICES
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
