"""Clearing a DAG run in tests: ``dag.test()`` again on the same run, as the UI's "Clear" does.

``dag.test()`` clears the task instances of its logical date with Airflow's own clear code, then
deletes the run and makes a new one, which would also delete the task state store (its rows
belong to the run). :func:`run_cleared` keeps the run instead and sets it running again, so the
second ``dag.test()`` is what an operator gets after clearing a run: same run id, same task
instances (next try number), same task state store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest

from tests.airflow_helpers import register_dag


@contextmanager
def keeping_the_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """While active, ``dag.test()`` reuses the run of its logical date instead of replacing it."""
    from airflow.models import dagrun
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    replace = dagrun.get_or_create_dagrun

    def reuse(*, dag: Any, logical_date: datetime | None, session: Any, **kwargs: Any) -> Any:
        run = session.scalar(
            select(dagrun.DagRun).where(
                dagrun.DagRun.dag_id == dag.dag_id, dagrun.DagRun.logical_date == logical_date
            )
        )
        if run is None:
            return replace(dag=dag, logical_date=logical_date, session=session, **kwargs)
        run.state = DagRunState.RUNNING  # what clearing a finished run does to it
        session.commit()
        run.dag = dag
        return run

    with monkeypatch.context() as patch:
        patch.setattr(dagrun, "get_or_create_dagrun", reuse)
        yield


def run_first(dag: Any, logical_date: datetime) -> Any:
    """``dag.test()`` of a DAG defined in a test, at ``logical_date``; returns the DagRun."""
    register_dag(dag)
    return dag.test(logical_date=logical_date)


def run_cleared(dag: Any, logical_date: datetime, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Clear the run of ``logical_date`` (every task) and run it again; returns the DagRun.

    ``dag`` may be a new definition of the same DAG id (e.g. with ``resume=False``).
    """
    register_dag(dag)
    with keeping_the_run(monkeypatch):
        return dag.test(logical_date=logical_date)
