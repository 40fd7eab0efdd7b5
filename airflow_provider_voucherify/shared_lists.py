"""Deprecated location, kept for one release: :mod:`airflow_provider_voucherify.waiting.shared_reads`."""

from __future__ import annotations

from airflow_provider_voucherify.waiting.shared_reads import *  # noqa: F403
