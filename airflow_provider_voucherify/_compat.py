"""Airflow names that moved between Airflow 3.1 and 3.2, read where Airflow's own providers read them.

``conf``: Airflow's configuration as the Task SDK reads it (``airflow.sdk.configuration``) from
Airflow 3.2, Airflow core's (``airflow.configuration``) on 3.1: the mapping of
``airflow.providers.common.compat.sdk.conf`` (apache-airflow-providers-common-compat 1.12 and
later), written out here so that an Airflow 3.1 install needs no newer common-compat than it has.
Every module of the package reads settings through this one (a test checks it).
"""

from __future__ import annotations

try:
    from airflow.sdk.configuration import conf
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.configuration import conf  # type: ignore[assignment,unused-ignore]

__all__ = ["conf"]
