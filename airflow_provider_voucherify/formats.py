"""The value formats of an order, defined once for the client's models and the emulator alike.

**Amounts and quantities** are integers (money in the smallest currency unit: cents for USD).
JSON has a single number type and the API runs on JavaScript, where ``1999.0`` *is* ``1999``, so an
integral number of any Python type (``1999.0``, ``Decimal("2")``, a NumPy integer) is read as the
integer; a fractional one (``12.99``), ``true``/``false``, a string, NaN or an infinity is not an
amount. Integers stay within ``2**53 - 1``, the largest JavaScript keeps exactly.

**Dates** are ISO 8601 with a full calendar date first (``YYYY-MM-DD``), read as warehouses write
them: ``T`` or a space before the time, ``Z`` or an offset (``+00``, ``+05:30``, ``-0800``), any
number of fractional-second digits. PostgreSQL's text of a ``timestamptz``
(``2024-01-15 10:00:00+00``) is one of them. A date-time without an offset is UTC. Other forms
(``01/05/2023``) are refused, saying that ISO 8601 is expected, since day and month cannot be told
apart in them.

Error messages name the rule and a fix, never the offending value (it may be personal data).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timezone
from decimal import Decimal
from numbers import Integral
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError, core_schema

# The API runs on JavaScript numbers: integers beyond 2**53 - 1 lose precision there.
MAX_SAFE_INTEGER = 2**53 - 1

MONEY_HINT = "amounts are integers in the smallest currency unit: 12.99 → 1299"
QUANTITY_HINT = "quantities are whole numbers"
ISO_HINT = "ISO 8601 is expected, e.g. 2024-01-15T10:00:00Z or 2024-01-15 10:00:00+00"
ISO_DATE_HINT = "an ISO 8601 date is expected, e.g. 1990-01-15"

# A full calendar date first: fromisoformat alone would also take 20240115 or 2024-W03-1, forms a
# warehouse does not write and the API does not document.
_CALENDAR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:$|[T ])")


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
    """An ISO 8601 date-time (or date, taken as midnight) as an aware ``datetime``; naive means UTC.

    :raises ValueError: for anything else, saying ISO 8601 is expected
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        moment = _from_iso(value.strip())
    else:
        raise ValueError(f"should be a date-time text; {ISO_HINT}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        moment.astimezone(timezone.utc)  # 0001-01-01T00:00+05:00 has no UTC date-time
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None
    return moment


def _from_iso(text: str) -> datetime:
    if not _CALENDAR_DATE.match(text):
        raise ValueError(f"is not a date-time in a known form; {ISO_HINT}")
    try:
        # C and fast; from Python 3.11 it reads every form above.
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    # Python 3.10's fromisoformat is narrower (no Z, no +00, 3 or 6 fraction digits only).
    from dateutil.parser import isoparse

    try:
        moment: datetime = isoparse(text)
        return moment
    except (ValueError, OverflowError):
        raise ValueError(f"is not a valid date-time; {ISO_HINT}") from None


def parse_date(value: Any) -> date:
    """An ISO 8601 calendar date (``YYYY-MM-DD``, or a date-time at midnight without an offset).

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
    if not _CALENDAR_DATE.match(text):
        raise ValueError(f"is not a date in a known form; {ISO_DATE_HINT}")
    try:
        moment = datetime.fromisoformat(text) if len(text) > 10 else None
        return parse_date(moment) if moment is not None else date.fromisoformat(text)
    except ValueError as error:
        if "ISO 8601" in str(error):
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
