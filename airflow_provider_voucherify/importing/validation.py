"""From records to serialized orders: validation and the invalid-record policy.

:func:`serialized_orders` is the hot path of an import: each JSON line goes straight to pydantic's
JSON parser (through :func:`~airflow_provider_voucherify.models.parse_order`), each valid order is
serialized once, and nothing is logged per order. Invalid records follow ``on_invalid``:

- ``"fail"``: the first one raises its :class:`InvalidOrderError` (line, source_id, field paths);
- ``"skip"``: each one is counted and written to the rejects file, and the one that takes the
  count past ``max_invalid`` raises at once, so no batch after it is sent.

Two orders with the same ``source_id`` are never sent in one request (what the API does with that
is undocumented). Policy: an order whose ``source_id`` is already in the batch being filled is an
invalid record naming the earlier line (:class:`SourceIdsInBatch`, one set per batch, so memory
stays bounded). Repeated farther apart, in a later batch, the later order is sent after the
earlier one and updates it, as the import upserts by ``source_id``.

Neither the errors nor the rejects file (:mod:`.rejects`) quote a record's content: it may hold
personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from airflow_provider_voucherify.exceptions import InvalidOrderError, InvalidOrdersFileError
from airflow_provider_voucherify.formats import api_datetime, parse_datetime
from airflow_provider_voucherify.importing.rejects import Rejects
from airflow_provider_voucherify.importing.source import (
    Location,
    Record,
)
from airflow_provider_voucherify.models import MAX_IMPORT_BYTES, Order, parse_order

OnInvalid = Literal["fail", "skip"]
ON_INVALID_CHOICES: tuple[OnInvalid, ...] = ("fail", "skip")
# Extra per-order rules (the project's metadata schemas): (path, reason) pairs, empty when none broken.
OrderCheck = Callable[[Order], list[tuple[str, str]]]
# Told of each order the import sends: (the validated order, its JSON, its line).
OnValid = Callable[[Order, bytes, int], None]
# A request body is "[" + orders joined by "," + "]": one order alone must leave room for the brackets.
MAX_ORDER_BYTES = MAX_IMPORT_BYTES - 2


class SourceIdsInBatch:
    """The ``source_id`` (and line) of each order in the batch being filled.

    The validation pass asks :meth:`earlier_line` before accepting an order; the batching pass
    calls :meth:`batch_cut` when it closes a batch (``batches(on_cut=...)``), which forgets all but
    the order that opens the next one (validated before the batching saw it). A batch full by
    count is known to close before the next order, so that order is checked against an empty
    batch; one closed by its size limit is not, so a repeat arriving just then is refused too.

    :param batch_size: orders per batch, as given to ``batches()``
    """

    def __init__(self, batch_size: int = 2000) -> None:
        self.batch_size = batch_size
        self._lines: dict[str, int] = {}
        self._count = 0
        self._last: tuple[str, int] | None = None

    def earlier_line(self, source_id: str) -> int | None:
        if self._count >= self.batch_size:
            self._lines, self._count = {}, 0
        return self._lines.get(source_id)

    def add(self, source_id: str | None, line: int) -> None:
        if self._count >= self.batch_size:
            self._lines, self._count = {}, 0
        self._count += 1
        self._last = (source_id, line) if source_id is not None else None
        if source_id is not None:
            self._lines[source_id] = line

    def batch_cut(self) -> None:
        self._lines = dict([self._last]) if self._last is not None else {}
        self._count = 1


@dataclass
class Counts:
    """Records read, valid and invalid so far."""

    read: int = 0
    valid: int = 0
    invalid: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def refuse_nothing_valid(counts: Counts, where: Location | None = None) -> None:
    """Fail a run that read orders and found none valid: it would end with nothing sent, which looks
    like success (an empty file is no error: nothing was read).

    :raises InvalidOrderError: when records were read and every one was invalid
    """
    if counts.read and not counts.valid:
        listed = f" (each listed in {where})" if where is not None else ""
        raise InvalidOrderError(
            [("", f"all {counts.invalid} records read were invalid{listed}: nothing was sent")]
        )


def historical_cutoff(value: datetime | str | timedelta | None, started: datetime) -> datetime | None:
    """The ``historical_before`` moment: a date-time (or its text), a time before ``started``, or
    ``None`` (also a template rendered empty or ``"None"``) for no check.

    :raises ValueError: for a text that is not a date-time (see :func:`~..formats.parse_datetime`)
    """
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        return None
    if isinstance(value, timedelta):
        return started - value
    try:
        return parse_datetime(value)
    except ValueError as error:
        raise ValueError(f"historical_before {error}") from None


def too_recent(order: Order, historical_before: datetime) -> list[tuple[str, str]]:
    """``(path, reason)`` when ``order`` was created at or after ``historical_before``."""
    if order.created_at is None or order.created_at < historical_before:
        return []
    reason = (
        f"created at or after historical_before ({api_datetime(historical_before)}): the import is for "
        "historical orders only (it creates no events and starts no order-based distributions), so "
        "sync an order this recent through the orders API (POST /v1/orders) instead"
    )
    return [(".created_at", reason)]


def checked_order(
    record: Record,
    line: int,
    require_source_id: bool,
    created_at_metadata_key: str | None,
    historical_before: datetime | None = None,
) -> tuple[Order, bytes]:
    """One record as the import sends it: the validated ``Order`` (``created_at`` moved) and its JSON.

    :raises InvalidOrderError: for a record the import would reject (invalid, or too large to send)
    :raises InvalidOrdersFileError: for a line that is not UTF-8 text
    """
    try:
        order = parse_order(record, line=line, require_source_id=require_source_id)
    except InvalidOrderError:
        if isinstance(record, bytes):  # only once a line fails: UTF-8 costs nothing to valid lines
            refuse_other_encodings(record, line)
        raise
    if historical_before is not None and (errors := too_recent(order, historical_before)):
        raise InvalidOrderError(errors, line=line, source_id=order.source_id)
    order = order.move_created_at(created_at_metadata_key)
    body = order.to_json()
    if len(body) > MAX_ORDER_BYTES:
        raise InvalidOrderError(
            [("", f"the order is {len(body)} bytes as JSON, more than one import takes ({MAX_ORDER_BYTES})")],
            line=line,
            source_id=order.source_id,
        )
    return order, body


def refuse_other_encodings(line_bytes: bytes, line: int) -> None:
    """Refuse a line that is not UTF-8 text: the file is in another encoding, so every line with a
    character outside ASCII is garbled, whatever ``on_invalid`` says.

    :raises InvalidOrdersFileError: naming the line, the byte's position and value (a byte is
        not personal data; the text around it is never quoted)
    """
    try:
        line_bytes.decode("utf-8")
    except UnicodeDecodeError as error:
        byte = line_bytes[error.start]
        guess = " (Latin-1 or Windows-1252, most likely)" if 0x80 <= byte <= 0xFF else ""
        raise InvalidOrdersFileError(
            f"the line is not UTF-8 text: byte 0x{byte:02X} at column {error.start + 1} {error.reason}. "
            f"The file is in another encoding{guess}; UTF-8 is expected: export it as UTF-8, or "
            "convert it with iconv -f WINDOWS-1252 -t UTF-8 orders.jsonl > orders.utf8.jsonl",
            line=line,
        ) from None


def _check_repeat(in_batch: SourceIdsInBatch, source_id: str | None, line: int) -> None:
    """Refuse an order repeating a ``source_id`` of the batch being filled; else note it there."""
    earlier = in_batch.earlier_line(source_id) if source_id is not None else None
    if earlier is not None:
        reason = (
            f"the same source_id as line {earlier}, in the same batch: two orders with one source_id "
            "are never sent together. Keep one line per order (the latest state of it)"
        )
        raise InvalidOrderError([(".source_id", reason)], line=line, source_id=source_id)
    in_batch.add(source_id, line)


def serialized_orders(
    records: Iterable[tuple[int, Record]],
    *,
    counts: Counts,
    on_invalid: OnInvalid = "fail",
    max_invalid: int = 0,
    rejects: Rejects | None = None,
    require_source_id: bool = True,
    created_at_metadata_key: str | None = "original_created_at",
    in_batch: SourceIdsInBatch | None = None,
    check: OrderCheck | None = None,
    on_valid: OnValid | None = None,
    historical_before: datetime | None = None,
) -> Iterator[tuple[bytes, bool]]:
    """Yield ``(order JSON, has source_id)`` for each valid record, applying ``on_invalid`` to the rest.

    :param counts: updated as records go by, so the caller can report them even after an error
    :param in_batch: when given, an order repeating a ``source_id`` of the batch being filled is
        invalid (pass its ``batch_cut`` to :func:`~._batching.batches` as ``on_cut``)
    :param check: more rules a valid order (its ``created_at`` already in metadata) must meet
    :param on_valid: told of each valid order before it is yielded (a reader that needs the order)
    :param historical_before: an order created at or after this moment is invalid (``None``: no check)
    :raises InvalidOrderError: on the first invalid record (``"fail"``), or on the one that takes
        the number of skipped records past ``max_invalid`` (``"skip"``)
    """
    for line, record in records:
        counts.read += 1
        try:
            order, body = checked_order(
                record, line, require_source_id, created_at_metadata_key, historical_before
            )
            if check is not None and (errors := check(order)):
                raise InvalidOrderError(errors, line=line, source_id=order.source_id)
            if in_batch is not None:
                _check_repeat(in_batch, order.source_id, line)
        except InvalidOrdersFileError:
            raise  # the file, not the record: on_invalid does not apply
        except InvalidOrderError as error:
            counts.invalid += 1
            if on_invalid == "fail":
                raise
            if rejects is not None:
                rejects.write(error)
            if counts.invalid > max_invalid:
                raise _too_many(error, counts.invalid, max_invalid, rejects) from error
            continue
        counts.valid += 1
        if on_valid is not None:
            on_valid(order, body, line)
        yield body, order.source_id is not None


def _too_many(
    error: InvalidOrderError, invalid: int, max_invalid: int, rejects: Rejects | None
) -> InvalidOrderError:
    where = (
        f" (each listed in {rejects.location})"
        if rejects is not None and rejects.location is not None
        else ""
    )
    reason = f"stopping: {invalid} invalid records, more than max_invalid={max_invalid}{where}"
    errors: list[tuple[str, Any]] = [("", reason), *error.errors]
    return InvalidOrderError(errors, line=error.line, source_id=error.source_id)
