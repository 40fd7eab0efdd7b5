"""The value formats of an order, defined once for the client's models and the emulator alike.

**Amounts and quantities** are integers (money in the smallest currency unit: cents for USD).
JSON has a single number type and the API runs on JavaScript, where ``1999.0`` *is* ``1999``, so an
integral number of any Python type (``1999.0``, ``Decimal("2")``, a NumPy integer) is read as the
integer; a fractional one (``12.99``), ``true``/``false``, a string, NaN or an infinity is not an
amount. Integers stay within ``2**53 - 1``, the largest JavaScript keeps exactly.

**Dates** are ISO 8601 with a full calendar date first (``YYYY-MM-DD``), read as warehouses write
them by default: ``T`` or a space before the time, any number of fractional-second digits (past
microseconds they are cut, as the API keeps milliseconds), and a zone written ``Z``, ``UTC`` or
``GMT``, or as an offset (``+00``, ``+05:30``, ``-0800``), with or without a space before it. So
Snowflake's ``2024-09-30 01:40:10.069 +0000``, BigQuery's ``2024-09-30 01:40:10.069000 UTC``,
Redshift's and PostgreSQL's ``2024-09-30 01:40:10.069+00``, SQL Server's
``2024-09-30T01:40:10.0690000+00:00`` and Databricks' ``2024-09-30T01:40:10.069+0000`` are all read.
A date-time without a zone (MySQL's ``DATETIME``: ``2024-09-30 01:40:10``) is UTC: that is the
documented default, since the API itself writes UTC; a warehouse that keeps local time must convert
first. Anything else is refused, saying which form is expected: day and month cannot be told apart
in ``01/05/2023``, and a zone's abbreviation (``CET``, ``EST``, ``IST``) names more than one offset.
One parser, :func:`parse_datetime`, written without ``datetime.fromisoformat``, so Python 3.10 reads
exactly what 3.11 and later read.

Error messages name the rule and a fix, never the offending value (it may be personal data).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from numbers import Integral
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError, core_schema

# The API runs on JavaScript numbers: integers beyond 2**53 - 1 lose precision there.
MAX_SAFE_INTEGER = 2**53 - 1

MONEY_HINT = "amounts are integers in the smallest currency unit: 12.99 → 1299"
QUANTITY_HINT = "quantities are whole numbers"
ISO_HINT = (
    "ISO 8601 is expected, e.g. 2024-01-15T10:00:00Z, 2024-01-15 10:00:00+00 or 2024-01-15 10:00:00.000 +0000"
)
ISO_DATE_HINT = "an ISO 8601 date is expected, e.g. 1990-01-15"

# A full calendar date first, then optionally a time and a zone: the forms warehouses write by
# default (see the module docstring). Not fromisoformat: before Python 3.11 it reads far fewer
# forms, and from 3.11 it also takes 20240115 or 2024-W03-1, which no warehouse writes.
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"(?: ?(?P<zone>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?))?)?"
)
_UTC_NAMES = ("Z", "UTC", "GMT")
# What fromisoformat reads the same on Python 3.10 and later: seconds, 3 or 6 fraction digits,
# an offset written +HH:MM.
_ISO_NAIVE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{3}|\.\d{6})?")
_ISO_PLAIN = re.compile(_ISO_NAIVE.pattern + r"(?:[+-]\d{2}:\d{2})?")
_CALENDAR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:$|[T ])")
# A zone given by name or abbreviation (CET, America/New_York): refused as ambiguous.
_NAMED_ZONE = re.compile(r"\d \(?[A-Za-z][A-Za-z_/+-]*\)?$")


class AmountError(ValueError):
    """A value is not an amount; ``reason`` says why, with a hint (never the value itself)."""


def as_integer(value: Any, hint: str = MONEY_HINT) -> int:
    """``value`` as an integer when it is one, whatever its Python or JSON number type.

    :raises AmountError: for booleans, fractions, NaN, infinities and non-numbers
    """
    if type(value) is int:  # the common case first: a plain JSON integer
        return value
    if isinstance(value, bool):
        raise AmountError("Input should be a valid integer, not true/false")
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, (float, Decimal)):
        if not math.isfinite(value):
            raise AmountError("Input should be a finite integer")
        if value != int(value):
            raise AmountError(
                f"Input should be a valid integer, got a number with a fractional part ({hint})"
            )
        return int(value)
    raise AmountError(f"Input should be a valid integer ({hint})")


def check_amount(value: Any, minimum: int, hint: str = MONEY_HINT) -> int:
    """``value`` as an integer between ``minimum`` and ``2**53 - 1``.

    :raises AmountError: naming the rule broken
    """
    number = as_integer(value, hint)
    if number < minimum:
        raise AmountError(f"Input should be greater than or equal to {minimum}")
    if number > MAX_SAFE_INTEGER:
        raise AmountError(
            f"Input should be less than or equal to {MAX_SAFE_INTEGER} "
            "(2**53 - 1, the largest integer the API keeps exactly)"
        )
    return number


class _Amount:
    """The pydantic schema of an amount: the rule above, with a fast path for plain integers.

    In strict validation (``parse_order`` tries it first on JSON text) an amount is a plain JSON
    integer within bounds, checked by pydantic-core without calling Python: most orders pass
    that way. Lax validation, the fallback, applies :func:`check_amount` (integral floats and
    Decimal values become ints; fractions fail with the hint).
    """

    def __init__(self, minimum: int, hint: str) -> None:
        self.minimum, self.hint = minimum, hint

    def validate(self, value: Any) -> int:
        try:
            return check_amount(value, self.minimum, self.hint)
        except AmountError as error:
            raise PydanticCustomError("amount", str(error)) from None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.lax_or_strict_schema(
            lax_schema=core_schema.no_info_plain_validator_function(self.validate),
            strict_schema=core_schema.int_schema(strict=True, ge=self.minimum, le=MAX_SAFE_INTEGER),
            serialization=core_schema.simple_ser_schema("int"),
        )

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "maximum": MAX_SAFE_INTEGER}


def _amount_type(minimum: int, hint: str) -> Any:
    return Annotated[int, _Amount(minimum, hint)]


Money = _amount_type(0, MONEY_HINT)
"""An amount of money in the smallest currency unit, 0 or more."""
Quantity = _amount_type(1, QUANTITY_HINT)
"""A number of units, 1 or more."""
Count = _amount_type(0, QUANTITY_HINT)
"""A number of units, 0 or more (e.g. ``discount_quantity``)."""


def parse_datetime(value: Any) -> datetime:
    """A date-time as warehouses write it (or a date, taken as midnight) as an aware ``datetime``;
    without a zone it is UTC.

    :raises ValueError: for anything else, saying which form is expected
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        moment = _from_text(value.strip())
    else:
        raise ValueError(f"should be a date-time text; {ISO_HINT}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        moment.astimezone(timezone.utc)  # 0001-01-01T00:00+05:00 has no UTC date-time
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None
    return moment


def _from_text(text: str) -> datetime:
    # The common case first, in C: forms that datetime.fromisoformat reads alike on every Python
    # (3.10 included), checked by a pattern first, since 3.11's reads more than warehouses write.
    zulu = text.endswith("Z")
    core = text[:-1] if zulu else text
    if (_ISO_NAIVE if zulu else _ISO_PLAIN).fullmatch(core):
        try:
            moment = datetime.fromisoformat(core)
        except ValueError:
            raise ValueError(f"is not a valid date-time; {ISO_HINT}") from None
        return moment.replace(tzinfo=timezone.utc) if zulu else moment
    found = _DATETIME.fullmatch(text)
    if found is None:
        if _CALENDAR_DATE.match(text) and _NAMED_ZONE.search(text):
            raise ValueError(f"names its time zone by a name or abbreviation, which is ambiguous; {ISO_HINT}")
        raise ValueError(f"is not a date-time in a known form; {ISO_HINT}")
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int(fraction[:6].ljust(6, "0")) if fraction else 0,
            tzinfo=_zone(zone),
        )
    except ValueError:
        raise ValueError(f"is not a valid date-time; {ISO_HINT}") from None


def _zone(text: str | None) -> timezone | None:
    if text is None:
        return None
    if text in _UTC_NAMES:
        return timezone.utc
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError("offset out of range")
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def parse_date(value: Any) -> date:
    """An ISO 8601 calendar date (``YYYY-MM-DD``, or a date-time at midnight without a zone).

    :raises ValueError: for anything else, saying an ISO 8601 date is expected
    """
    if isinstance(value, datetime):
        if value.time() != time() or value.tzinfo is not None:
            raise ValueError(f"should be a date without a time of day; {ISO_DATE_HINT}")
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"should be a date text; {ISO_DATE_HINT}")
    text = value.strip()
    found = _DATETIME.fullmatch(text)
    if found is None:
        raise ValueError(f"is not a date in a known form; {ISO_DATE_HINT}")
    if found.group("zone") is not None:
        raise ValueError(f"should be a date without a time of day; {ISO_DATE_HINT}")
    try:
        return parse_date(_from_text(text))
    except ValueError as error:
        if "ISO 8601" in str(error) and "date without" in str(error):
            raise
        raise ValueError(f"is not a valid date; {ISO_DATE_HINT}") from None


def api_datetime(moment: datetime) -> str:
    """The form the API documents for dates: UTC, milliseconds, ``Z`` (``2021-03-04T05:06:07.123Z``)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def _pydantic(parse: Any) -> Any:
    def validate(value: Any) -> Any:
        try:
            return parse(value)
        except ValueError as error:
            raise PydanticCustomError("iso_8601", str(error)) from None

    return PlainValidator(validate)


IsoDateTime = Annotated[
    datetime,
    _pydantic(parse_datetime),
    PlainSerializer(api_datetime, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A date-time field: :func:`parse_datetime` in, :func:`api_datetime` out (JSON)."""
IsoDate = Annotated[
    date,
    _pydantic(parse_date),
    # Explicit: without it, serializing ``IsoDate | None`` warns that the value is not a date.
    PlainSerializer(date.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date"}),
]
"""A date field: :func:`parse_date` in, ``YYYY-MM-DD`` out."""
