"""The on-disk index an export comparison joins: the orders sent, the export's rows, the customers.

Three SQLite tables in a temporary directory: ``sent`` (each order's ``source_id``, the fields an
export carries as the import sent them, and the order's source line, unchanged), ``held`` (the
orders export's rows) and ``customers`` (the customers export: Voucherify id → ``source_id``).
One join walks them, so memory holds one order at a time whatever their number.

:class:`SentLines` fills ``sent`` from the import's own pipeline
(:func:`~airflow_provider_voucherify.reconcile.sample.draw_sample`: the same validation, with
``created_at`` moved into metadata, the same batch cuts), drawing the read-back sample in the
same pass.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_voucherify.importing.source import Record
from airflow_provider_voucherify.models import Order

# The order fields an export carries that an import may send (compared when sent).
SENT_FIELDS = ("id", "status", "amount", "discount_amount", "customer_id", "referrer_id")
PARTIES = ("customer", "referrer")
_BATCH = 2000


@dataclass(frozen=True)
class Joined:
    """One order sent, and what the exports hold for it (``held`` ``None``: not in the export).

    :param parties: per role, the ``source_id`` of the customer the held order points at
        (``None``: no customer, or one the customers export does not list)
    """

    source_id: str
    sent: dict[str, Any]
    line: bytes
    held: dict[str, str] | None
    parties: dict[str, str | None]


def sent_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """What of an order (the JSON the import sent) an export can show."""
    sent = {name: record[name] for name in SENT_FIELDS if name in record}
    metadata = record.get("metadata")
    if isinstance(metadata, Mapping) and metadata:
        sent["metadata"] = dict(metadata)
    for role in PARTIES:
        party = record.get(role)
        if isinstance(party, Mapping):
            keys = {key: party[key] for key in ("id", "source_id") if party.get(key) is not None}
            if keys:
                sent[role] = keys
    return sent


def raw_line(item: Record) -> bytes:
    """An input record as its source line: a file's bytes as they are, an in-memory order as JSON."""
    if isinstance(item, (bytes, bytearray)):
        return bytes(item) if item.endswith(b"\n") else bytes(item) + b"\n"
    record = item.model_dump(mode="json", exclude_unset=True) if isinstance(item, Order) else item
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


class SourceIndex:
    """The three tables, in ``directory`` (a temporary one: the caller removes it)."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / "reconcile-export.sqlite"
        self.conn = sqlite3.connect(self.path)
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.executescript(
            "CREATE TABLE sent (source_id TEXT PRIMARY KEY, fields TEXT NOT NULL, line BLOB NOT NULL);"
            "CREATE TABLE held (source_id TEXT PRIMARY KEY, fields TEXT NOT NULL,"
            " customer_id TEXT, referrer_id TEXT);"
            "CREATE TABLE customers (id TEXT PRIMARY KEY, source_id TEXT);"
        )
        self.metadata_keys: set[str] = set()
        self.parties = False  # whether an order sent names a customer or referrer
        self.without_source_id = 0
        self._pending: list[tuple[str, str, bytes]] = []

    def close(self) -> None:
        self.conn.close()

    def add_one(self, line: bytes, record: Mapping[str, Any]) -> None:
        """Index one order: its source ``line`` and ``record``, the JSON the import sent (a later
        order of the same ``source_id`` replaces it, as the import's upsert does)."""
        source_id = record.get("source_id")
        if not isinstance(source_id, str) or not source_id:
            self.without_source_id += 1
            return
        sent = sent_fields(record)
        self.metadata_keys.update(sent.get("metadata") or ())
        self.parties = self.parties or any(name in sent for name in (*PARTIES, "customer_id", "referrer_id"))
        self._pending.append((source_id, json.dumps(sent), line))
        if len(self._pending) >= _BATCH:
            self.flush()

    def clear_sent(self) -> None:
        """Forget the orders indexed so far (a read of the source that starts again)."""
        self._pending.clear()
        with self.conn:
            self.conn.execute("DELETE FROM sent")
        self.metadata_keys.clear()
        self.parties = False
        self.without_source_id = 0

    def add(self, records: Iterable[tuple[bytes, Mapping[str, Any]]]) -> None:
        """Index ``(raw line, parsed order)`` pairs."""
        for line, record in records:
            self.add_one(line, record)
        self.flush()

    def flush(self) -> None:
        self._insert("INSERT OR REPLACE INTO sent VALUES (?, ?, ?)", self._pending)

    def add_held(self, rows: Iterable[Mapping[str, str]]) -> None:
        """The orders export's rows, keyed by field name."""
        batch: list[tuple[str, str, str | None, str | None]] = []
        for row in rows:
            parties = (row.get("customer_id") or None, row.get("referrer_id") or None)
            batch.append((row.get("source_id", ""), json.dumps(row), *parties))
            if len(batch) >= _BATCH:
                self._insert("INSERT OR REPLACE INTO held VALUES (?, ?, ?, ?)", batch)
        self._insert("INSERT OR REPLACE INTO held VALUES (?, ?, ?, ?)", batch)

    def add_customers(self, rows: Iterable[Mapping[str, str]]) -> None:
        """The customers export's rows (``id``, ``source_id``)."""
        batch: list[tuple[str, str | None]] = []
        for row in rows:
            batch.append((row.get("id", ""), row.get("source_id") or None))
            if len(batch) >= _BATCH:
                self._insert("INSERT OR REPLACE INTO customers VALUES (?, ?)", batch)
        self._insert("INSERT OR REPLACE INTO customers VALUES (?, ?)", batch)

    def _insert(self, statement: str, batch: list[Any]) -> None:
        if batch:
            with self.conn:
                self.conn.executemany(statement, batch)
            batch.clear()

    def joined(self) -> Iterator[Joined]:
        """Every order sent, in the order first sent, with what the exports hold for it."""
        cursor = self.conn.execute(
            "SELECT s.source_id, s.fields, s.line, h.fields, c.source_id, r.source_id FROM sent s"
            " LEFT JOIN held h ON h.source_id = s.source_id"
            " LEFT JOIN customers c ON c.id = h.customer_id"
            " LEFT JOIN customers r ON r.id = h.referrer_id ORDER BY s.rowid"
        )
        for source_id, sent, line, held, customer, referrer in cursor:
            yield Joined(
                source_id,
                json.loads(sent),
                bytes(line),
                None if held is None else json.loads(held),
                {"customer": customer, "referrer": referrer},
            )


class SentLines:
    """Feeds ``index`` while :func:`~airflow_provider_voucherify.reconcile.sample.draw_sample`
    reads the source: pass it ``records(source)`` and ``on_sent``, and every order sent with a
    ``source_id`` and not refused is indexed with its source line, unchanged."""

    def __init__(self, index: SourceIndex) -> None:
        self.index = index
        self._current: Record = b""

    def records(self, records: Iterable[tuple[int, Record]]) -> Iterator[tuple[int, Record]]:
        for line, record in records:
            self._current = record  # the pipeline tells of an order while its record is the latest
            yield line, record
        self.index.flush()

    def on_sent(self, order: Order, body: bytes, line: int) -> None:
        self.index.add_one(raw_line(self._current), json.loads(body))
