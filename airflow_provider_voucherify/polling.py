"""Deprecated location, kept for one release: :mod:`airflow_provider_voucherify.waiting.tracker`,
:mod:`~airflow_provider_voucherify.waiting.runners` and :mod:`~airflow_provider_voucherify.error_policy`."""

from __future__ import annotations

from airflow_provider_voucherify.error_policy import waiting_can_cure as is_transient
from airflow_provider_voucherify.waiting.planner import PROGRESS_LOG_INTERVAL, error_backoff
from airflow_provider_voucherify.waiting.runners import ListReader, ProgressLog, apoll_once, poll_once
from airflow_provider_voucherify.waiting.tracker import (
    LIST_PAGE_SIZE,
    SHORT_PAGE_EXTRA,
    ActionTracker,
    Answer,
    Call,
    Fetch,
    ListPage,
    action_ids,
)

__all__ = [
    "LIST_PAGE_SIZE",
    "PROGRESS_LOG_INTERVAL",
    "SHORT_PAGE_EXTRA",
    "ActionTracker",
    "Answer",
    "Call",
    "Fetch",
    "ListPage",
    "ListReader",
    "ProgressLog",
    "action_ids",
    "apoll_once",
    "error_backoff",
    "is_transient",
    "poll_once",
]
