"""Deprecated location, kept for one release: see :mod:`~airflow_provider_voucherify.error_policy`
(which errors a retry can cure) and ``operators._task`` (``fail_fast``)."""

from __future__ import annotations

from airflow_provider_voucherify.error_policy import DETERMINISTIC_STATUSES, retry_cannot_cure
from airflow_provider_voucherify.operators._task import AirflowFailException, fail_fast

__all__ = ["DETERMINISTIC_STATUSES", "AirflowFailException", "fail_fast", "retry_cannot_cure"]
