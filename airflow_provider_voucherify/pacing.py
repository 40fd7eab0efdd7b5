"""Deprecated location, kept for one release: :mod:`airflow_provider_voucherify.waiting.pacing`."""

from __future__ import annotations

from airflow_provider_voucherify.waiting.pacing import *  # noqa: F403
