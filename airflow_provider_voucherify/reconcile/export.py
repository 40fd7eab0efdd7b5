"""Every order of a source compared with one export of what Voucherify holds: flat memory, on disk.

The source's orders go into an on-disk SQLite index (``source_id``, the fields an export carries,
the raw line), the export's rows into a second table, and one join walks both: memory holds one
row at a time whatever the number of orders. Compared, for each order that sent them: ``status``,
``amount`` and ``discount_amount`` (as integers: ``1999.0`` is 1999) and each ``metadata.<key>``
(by the type the order sent: a number as its text, ``true``/``false``, a date as an instant; see
:func:`~airflow_provider_voucherify.reconcile.compare.same_value`). An order the export lacks is
missing; one whose fields differ is differing. Both are reported by ``source_id`` and field name,
never with values (they may be personal data), and their source lines are written unchanged to
the missing-orders file, ready to import again.

Calls: one ``POST /v1/exports``, the ``GET /v1/exports/{id}`` polls until it is done, one download.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from airflow_provider_voucherify.exceptions import VoucherifyError
from airflow_provider_voucherify.reconcile.compare import same_value

BASE_FIELDS = ("source_id", "status", "amount", "discount_amount")
AMOUNTS = ("amount", "discount_amount")
UNFINISHED = frozenset({"SCHEDULED", "IN_PROGRESS"})
MAX_LISTED = 100  # problems kept for the report's table; the counts and the file hold them all
_BATCH = 2000


class ExportCalls(Protocol):
    """The calls the comparison makes (``VoucherifyHook`` has them)."""

    def create_export(
        self,
        exported_object: str,
        fields: Sequence[str],
        filters: Mapping[str, Any] | None = None,
        order: str | None = None,
    ) -> dict[str, Any]: ...
    def get_export(self, export_id: str) -> dict[str, Any]: ...
    def download_export(self, export: Mapping[str, Any]) -> Iterator[dict[str, str]]: ...


class ExportFailedError(VoucherifyError):
    """The export ended with another status than ``DONE`` (``ERROR``, or one the spec does not name)."""


@dataclass
class ExportComparison:
    """What the comparison found: counts, the first problems (``source_id``, field), the export's id."""

    export_id: str = ""
    checked: int = 0
    missing: int = 0
    differing: int = 0
    without_source_id: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "export_id": self.export_id,
            "checked": self.checked,
            "missing": self.missing,
            "differing": self.differing,
            "without_source_id": self.without_source_id,
        }

    def table(self) -> str:
        """The problems as a plain table (``source_id``, field), never values."""
        lines = [f"{source_id}\t{name}" for source_id, name in self.problems]
        more = self.missing + self.differing - len({source_id for source_id, _ in self.problems})
        tail = [f"... and {more} more order(s)"] if more > 0 else []
        return "\n".join(["source_id\tfield", *lines, *tail])


def _integer(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        return None
    return int(value)


class SourceIndex:
    """The source's orders on disk: ``source_id`` → sent fields and raw line (last line wins)."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / "reconcile-export.sqlite"
        self.conn = sqlite3.connect(self.path)
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.executescript(
            "CREATE TABLE sent (source_id TEXT PRIMARY KEY, fields TEXT NOT NULL, line BLOB NOT NULL);"
            "CREATE TABLE held (source_id TEXT PRIMARY KEY, fields TEXT NOT NULL);"
        )
        self.metadata_keys: set[str] = set()
        self.without_source_id = 0

    def close(self) -> None:
        self.conn.close()

    def add(self, records: Iterable[tuple[bytes, Mapping[str, Any]]]) -> None:
        """Index ``(raw line, parsed order)`` pairs."""
        batch: list[tuple[str, str, bytes]] = []
        for line, record in records:
            source_id = record.get("source_id")
            if not isinstance(source_id, str) or not source_id:
                self.without_source_id += 1
                continue
            sent = {name: record[name] for name in BASE_FIELDS[1:] if name in record}
            metadata = record.get("metadata")
            if isinstance(metadata, Mapping) and metadata:
                sent["metadata"] = dict(metadata)
                self.metadata_keys.update(metadata)
            batch.append((source_id, json.dumps(sent), line))
            if len(batch) >= _BATCH:
                self._flush("INSERT OR REPLACE INTO sent VALUES (?, ?, ?)", batch)
        self._flush("INSERT OR REPLACE INTO sent VALUES (?, ?, ?)", batch)

    def add_held(self, rows: Iterable[Mapping[str, str]]) -> None:
        batch: list[tuple[str, str]] = []
        for row in rows:
            batch.append((row.get("source_id", ""), json.dumps(row)))
            if len(batch) >= _BATCH:
                self._flush("INSERT OR REPLACE INTO held VALUES (?, ?)", batch)
        self._flush("INSERT OR REPLACE INTO held VALUES (?, ?)", batch)

    def _flush(self, statement: str, batch: list[Any]) -> None:
        if batch:
            with self.conn:
                self.conn.executemany(statement, batch)
            batch.clear()

    def joined(self) -> Iterator[tuple[str, dict[str, Any], bytes, dict[str, str] | None]]:
        cursor = self.conn.execute(
            "SELECT s.source_id, s.fields, s.line, h.fields FROM sent s"
            " LEFT JOIN held h ON h.source_id = s.source_id ORDER BY s.rowid"
        )
        for source_id, sent, line, held in cursor:
            yield source_id, json.loads(sent), bytes(line), None if held is None else json.loads(held)


def export_fields(metadata_keys: Iterable[str]) -> list[str]:
    """The export's columns: the base fields, then one per metadata key the orders sent (sorted)."""
    return [*BASE_FIELDS, *(f"metadata.{key}" for key in sorted(metadata_keys))]


def differing_fields(sent: Mapping[str, Any], held: Mapping[str, str]) -> list[str]:
    """The names of the fields ``sent`` holds that the export's row ``held`` does not hold as sent."""
    found = []
    if "status" in sent and sent["status"] is not None and held.get("status") != sent["status"]:
        found.append("status")
    for name in AMOUNTS:
        if name in sent and sent[name] is not None:
            text = held.get(name, "")
            stored = int(text) if text.lstrip("-").isdigit() else None
            if stored is None or stored != _integer(sent[name]):
                found.append(name)
    for key, value in (sent.get("metadata") or {}).items():
        if not _same_text(value, held.get(f"metadata.{key}", "")):
            found.append(f"metadata.{key}")
    return found


def _same_text(sent: Any, text: str) -> bool:
    if sent is None:
        return text == ""
    if isinstance(sent, (Mapping, list)):
        try:
            return same_value(sent, json.loads(text))
        except ValueError:
            return False
    return same_value(sent, text)


def wait_for_export(
    calls: ExportCalls,
    export: Mapping[str, Any],
    *,
    poll_interval: float = 5.0,
    timeout: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll ``GET /v1/exports/{id}`` until the export leaves ``SCHEDULED`` / ``IN_PROGRESS``.

    :raises ExportFailedError: when it ends with another status than ``DONE``, naming the export
    :raises TimeoutError: when it is still unfinished after ``timeout`` seconds
    """
    export_id = str(export["id"])
    deadline = clock() + timeout
    current = dict(export)
    while current.get("status") in UNFINISHED:
        if clock() >= deadline:
            raise TimeoutError(f"Export {export_id} is still {current.get('status')} after {timeout:.0f} s")
        sleep(poll_interval)
        current = calls.get_export(export_id)
    if current.get("status") != "DONE":
        raise ExportFailedError(
            f"Export {export_id} ended {current.get('status')}, not DONE: nothing was compared"
        )
    return current


def compare_by_export(
    calls: ExportCalls,
    records: Iterable[tuple[bytes, Mapping[str, Any]]],
    missing_orders: IO[bytes] | None = None,
    *,
    filters: Mapping[str, Any] | None = None,
    work_dir: str | Path | None = None,
    poll_interval: float = 5.0,
    timeout: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> ExportComparison:
    """Compare every order of ``records`` (``(raw line, parsed order)``) with one export of the orders.

    :param missing_orders: receives the raw line of every missing or differing order, unchanged
    :param filters: the export's filters (the imports' time range), as the spec writes them
    :param work_dir: where the on-disk index lives (a temporary directory by default)
    """
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="voucherify-reconcile-") as directory:
        index = SourceIndex(directory)
        with closing(index):
            index.add(records)
            created = calls.create_export("order", export_fields(index.metadata_keys), filters=filters)
            export = wait_for_export(
                calls, created, poll_interval=poll_interval, timeout=timeout, sleep=sleep
            )
            index.add_held(calls.download_export(export))
            result = ExportComparison(export_id=str(export["id"]), without_source_id=index.without_source_id)
            for source_id, sent, line, held in index.joined():
                result.checked += 1
                names = ["(missing)"] if held is None else differing_fields(sent, held)
                if not names:
                    continue
                if held is None:
                    result.missing += 1
                else:
                    result.differing += 1
                if len(result.problems) < MAX_LISTED:
                    result.problems.extend((source_id, name) for name in names)
                if missing_orders is not None:
                    missing_orders.write(line if line.endswith(b"\n") else line + b"\n")
    return result


def source_records(items: Iterable[tuple[int, Any]]) -> Iterator[tuple[bytes, Mapping[str, Any]]]:
    """``(raw line, parsed order)`` pairs from an ``OrderSource``'s ``(line number, record)``: a
    file's raw bytes as they are, an in-memory order as its JSON."""
    for _, item in items:
        if isinstance(item, (bytes, bytearray)):
            yield bytes(item), json.loads(item)
            continue
        record = item.model_dump(mode="json", exclude_unset=True) if hasattr(item, "model_dump") else item
        yield json.dumps(record, separators=(",", ":")).encode(), record
