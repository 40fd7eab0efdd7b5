"""One date parser for the whole package: every timestamp text the common warehouses write by
default is read, the same on every Python the package supports; anything ambiguous is refused
naming the field."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_voucherify.exceptions import InvalidOrderError
from airflow_provider_voucherify.formats import parse_date, parse_datetime
from airflow_provider_voucherify.models import parse_order
from airflow_provider_voucherify.reconcile.compare import compare_order, same_value

MOMENT = datetime(2024, 9, 30, 1, 40, 10, 69000, tzinfo=timezone.utc)

WAREHOUSE_DEFAULTS = {
    "snowflake": "2024-09-30 01:40:10.069 +0000",
    "bigquery": "2024-09-30 01:40:10.069000 UTC",
    "redshift / postgresql": "2024-09-30 01:40:10.069+00",
    "mysql (no zone: UTC, the documented default)": "2024-09-30 01:40:10.069",
    "sql server": "2024-09-30T01:40:10.0690000+00:00",
    "databricks": "2024-09-30T01:40:10.069+0000",
    "the api": "2024-09-30T01:40:10.069Z",
}


class _DateTimeOfPython310(datetime):
    """``datetime`` whose ``fromisoformat`` reads only what Python 3.10's does: no ``Z``, no
    ``+00`` or ``+0000``, 3 or 6 fraction digits, ``T`` or a space."""

    _FORM = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.(\d{3}|\d{6}))?)?)?([+-]\d{2}:\d{2})?)?")

    @classmethod
    def fromisoformat(cls, text: str) -> Any:
        if not cls._FORM.fullmatch(text):
            raise ValueError(f"Invalid isoformat string: {text!r}")
        return super().fromisoformat(text)


@pytest.fixture(params=["this python", "python 3.10's fromisoformat"])
def python(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test as is, and again with every module of the package seeing 3.10's fromisoformat."""
    if request.param != "this python":
        for name, module in list(sys.modules.items()):
            if (
                name.startswith("airflow_provider_voucherify")
                and getattr(module, "datetime", None) is datetime
            ):
                monkeypatch.setattr(module, "datetime", _DateTimeOfPython310)
    return str(request.param)


@pytest.mark.parametrize("text", WAREHOUSE_DEFAULTS.values(), ids=WAREHOUSE_DEFAULTS.keys())
def test_every_warehouse_default_timestamp_text_is_read(text: str, python: str) -> None:
    assert parse_datetime(text) == MOMENT
    order = parse_order({"source_id": "o", "created_at": text})
    assert order.move_created_at().metadata == {"original_created_at": "2024-09-30T01:40:10.069Z"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-09-30 01:40:10 -0800", datetime(2024, 9, 30, 9, 40, 10, tzinfo=timezone.utc)),
        ("2024-09-30T01:40:10+05:30", datetime(2024, 9, 29, 20, 10, 10, tzinfo=timezone.utc)),
        ("2024-09-30 01:40:10.1234567 GMT", datetime(2024, 9, 30, 1, 40, 10, 123456, tzinfo=timezone.utc)),
        ("2024-09-30 01:40", datetime(2024, 9, 30, 1, 40, tzinfo=timezone.utc)),
        ("2024-09-30", datetime(2024, 9, 30, tzinfo=timezone.utc)),
    ],
)
def test_offsets_fractions_and_dates_are_read_as_the_instant_they_name(
    text: str, expected: datetime, python: str
) -> None:
    assert parse_datetime(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("01/05/2023", "not a date-time in a known form"),
        ("30.09.2024 01:40", "not a date-time in a known form"),
        ("20240930T014010Z", "not a date-time in a known form"),
        ("2024-09-30 01:40:10 CET", "by a name or abbreviation, which is ambiguous"),
        ("2024-09-30 01:40:10 America/New_York", "by a name or abbreviation, which is ambiguous"),
        ("2024-02-30 01:40:10", "not a valid date-time"),
        ("2024-09-30 01:40:10+24:00", "not a valid date-time"),
    ],
)
def test_an_ambiguous_or_unknown_timestamp_is_refused_naming_the_field(text: str, why: str) -> None:
    with pytest.raises(InvalidOrderError) as caught:
        parse_order({"source_id": "o", "created_at": text})
    ((path, reason),) = caught.value.errors
    assert path == ".created_at"
    assert why in reason
    assert "ISO 8601 is expected" in reason
    assert text not in str(caught.value)  # never the value: it may be personal data


def test_birthdates_are_dates_without_a_time_of_day(python: str) -> None:
    assert str(parse_date("1990-01-15")) == str(parse_date("1990-01-15 00:00:00")) == "1990-01-15"
    for text in ("1990-01-15 10:00:00", "1990-01-15T00:00:00Z", "15/01/1990"):
        with pytest.raises(ValueError, match="an ISO 8601 date is expected"):
            parse_date(text)


def test_reconcile_compares_a_date_sent_with_an_offset_and_stored_with_z(python: str) -> None:
    """On Python 3.10 the standard parser lacks ``Z``: a good import must not read as a mismatch."""
    assert same_value("2024-01-05T10:00:00+00:00", "2024-01-05T10:00:00.000Z")
    sent = {
        "source_id": "O-1",
        "metadata": {"original_created_at": "2024-01-05T10:00:00.000Z", "paid": "2024-01-05 11:00:00+01"},
    }
    stored = {
        "id": "ord_1",
        "source_id": "O-1",
        "metadata": {"original_created_at": "2024-01-05T10:00:00+00:00", "paid": "2024-01-05T10:00:00.000Z"},
    }
    assert compare_order("O-1", sent, stored) == []
    assert not same_value("2024-01-05T10:00:00+00:00", "2024-01-05T10:00:01.000Z")
