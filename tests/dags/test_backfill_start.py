"""The backfill's first month is imported whole, whatever day of it VOUCHERIFY_BACKFILL_START names."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.airflow_helpers import dagbag_module

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "voucherify_orders_backfill.py"


def first_interval(monkeypatch: pytest.MonkeyPatch, start: str) -> tuple[datetime, datetime]:
    """The data interval of the DAG's first scheduled run, as the scheduler computes it."""
    DagBag = dagbag_module().DagBag
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    monkeypatch.setenv("VOUCHERIFY_BACKFILL_START", start)
    monkeypatch.setenv("VOUCHERIFY_BACKFILL_END", "2024-03-31")
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    dag = bag.get_dag("voucherify_orders_backfill")
    timetable = CronDataIntervalTimetable("0 0 1 * *", timezone="UTC")  # the DAG's, scheduler side
    info = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=dag.start_date, latest=dag.end_date, catchup=True),
    )
    assert info is not None
    return info.data_interval.start, info.data_interval.end


@pytest.mark.parametrize("start", ["2024-01-15", "2024-01-31T23:30:00", "2024-01-01"])
def test_a_start_inside_a_month_imports_that_whole_month(
    airflow_db: Path, monkeypatch: pytest.MonkeyPatch, start: str
) -> None:
    assert first_interval(monkeypatch, start) == (
        datetime(2024, 1, 1, tzinfo=timezone.utc),
        datetime(2024, 2, 1, tzinfo=timezone.utc),
    )
