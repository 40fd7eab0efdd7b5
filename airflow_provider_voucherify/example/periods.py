"""The stretches of history the example DAGs read: a month, the whole migration, and the demo's gap.

A backfill run covers one month, ``[first day, first day of the next month)``; the audit covers
every month the backfill covered. A warehouse query takes an interval as two UTC texts
(``"2024-01-01 00:00:00"``), the form every warehouse compares with a ``TIMESTAMP`` column.

``parts`` cuts an interval into the intervals a query is run over: one, unless a day is left out.
Leaving a day out exists for the demo only (``make demo`` and the end-to-end test): a month that
misses a day and whose own checks agree with themselves, as a run that started mid-month once
did, so that the whole-migration audit has a gap to find.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

# The asset the backfill's last month updates when it is done; the audit DAG is scheduled on it.
BACKFILL_DONE = "voucherify_orders_backfill_done"

SqlInterval = tuple[str, str]


def month_start(day: datetime | date) -> datetime:
    """The first moment (UTC) of ``day``'s month: a monthly schedule's first run starts at the
    first boundary at or after ``start_date``, so a start inside a month would skip its first days."""
    return datetime(day.year, day.month, 1, tzinfo=timezone.utc)


def next_month_start(day: datetime | date) -> datetime:
    """The first moment (UTC) of the month after ``day``'s."""
    return month_start(month_start(day) + timedelta(days=32))


def migration_period(start: datetime | date, end: datetime | date) -> tuple[datetime, datetime]:
    """Every month a monthly backfill from ``start`` to ``end`` (its ``start_date`` and ``end_date``)
    covers: from ``start``'s month to the end of ``end``'s month, ``[from, to)`` in UTC."""
    return month_start(start), next_month_start(end)


def sql_interval(start: datetime, end: datetime) -> SqlInterval:
    """``[start, end)`` as two UTC texts (naive datetimes are taken as UTC)."""

    def text(moment: datetime) -> str:
        aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        return aware.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    return text(start), text(end)


def parts(start: datetime, end: datetime, leave_out: date | None = None) -> list[SqlInterval]:
    """``[start, end)`` as the intervals to query: itself, or the two sides of ``leave_out`` (a
    UTC day) when that day lies inside it (demo only: see the module's docstring)."""
    if leave_out is None:
        return [sql_interval(start, end)]
    day = datetime.combine(leave_out, time(), tzinfo=timezone.utc)
    after = day + timedelta(days=1)
    aware = [moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc) for moment in (start, end)]
    if after <= aware[0] or day >= aware[1]:
        return [sql_interval(start, end)]
    kept = [(aware[0], max(aware[0], day)), (min(after, aware[1]), aware[1])]
    return [sql_interval(low, high) for low, high in kept if low < high]
