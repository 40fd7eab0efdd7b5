"""Deprecated location, kept for one release: :mod:`airflow_provider_voucherify.waiting.verdict`."""

from __future__ import annotations

from airflow_provider_voucherify.waiting.verdict import *  # noqa: F403
