"""The stretches of history the example DAGs query: months, the whole migration, the demo's gap."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from airflow_provider_voucherify.example.periods import migration_period, parts, sql_interval

UTC = timezone.utc
JAN, FEB, MAR = (datetime(2024, month, 1, tzinfo=UTC) for month in (1, 2, 3))


def test_a_month_is_queried_as_one_interval() -> None:
    assert parts(JAN, FEB) == [("2024-01-01 00:00:00", "2024-02-01 00:00:00")]


def test_a_left_out_day_cuts_its_month_in_two() -> None:
    assert parts(FEB, MAR, leave_out=date(2024, 2, 14)) == [
        ("2024-02-01 00:00:00", "2024-02-14 00:00:00"),
        ("2024-02-15 00:00:00", "2024-03-01 00:00:00"),
    ]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2024, 2, 1), [("2024-02-02 00:00:00", "2024-03-01 00:00:00")]),
        (date(2024, 2, 29), [("2024-02-01 00:00:00", "2024-02-29 00:00:00")]),
    ],
    ids=["first day", "last day"],
)
def test_a_left_out_first_or_last_day_leaves_one_interval(day: date, expected: list[tuple[str, str]]) -> None:
    assert parts(FEB, MAR, leave_out=day) == expected


@pytest.mark.parametrize("day", [date(2024, 1, 31), date(2024, 3, 1)], ids=["before", "after"])
def test_a_day_outside_the_month_leaves_it_whole(day: date) -> None:
    assert parts(FEB, MAR, leave_out=day) == [("2024-02-01 00:00:00", "2024-03-01 00:00:00")]


def test_the_migration_covers_whole_months_from_the_first_to_the_last() -> None:
    # A backfill from mid-January to mid-March runs January, February and March whole.
    assert migration_period(date(2024, 1, 15), date(2024, 3, 15)) == (JAN, datetime(2024, 4, 1, tzinfo=UTC))
    assert migration_period(date(2024, 1, 1), date(2024, 12, 31)) == (JAN, datetime(2025, 1, 1, tzinfo=UTC))


def test_interval_texts_are_utc() -> None:
    paris_winter = timezone(timedelta(hours=1))
    start = datetime(2024, 1, 1, 1, 0, tzinfo=paris_winter)
    assert sql_interval(start, datetime(2024, 1, 2)) == ("2024-01-01 00:00:00", "2024-01-02 00:00:00")
