"""Where invalid records go: the rejects file, the tally the log shows, and JSON Lines written anew.

A rejects entry names the line, ``source_id``, field paths and reasons of an invalid record, never
the record itself (it may hold personal data). Files are local paths or object-store paths
(handed in as :class:`~.source.StoragePath`), rewritten by each try.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from types import TracebackType
from typing import IO, Any, Protocol, TypeVar

from airflow_provider_voucherify.exceptions import InvalidOrderError
from airflow_provider_voucherify.importing.source import Location, is_location, is_stored, storage_path

# Invalid records the log shows, with their reasons.
SHOWN_INVALID = 5
# A continuing try's kept rejects entries stay in memory up to this size, then in a temporary file.
KEPT_IN_MEMORY = 8 * 1024 * 1024

_File = TypeVar("_File", bound="JsonLinesFile")


class JsonLinesFile:
    """A JSON Lines file written entry by entry: a local path or an object-store path.

    Written anew by each try (opened with ``"wb"``, never appended to: object stores such as S3
    and GCS cannot append); a subclass may first copy entries of the previous file it keeps (see
    :class:`RejectsFile`). Local parent directories are created.
    """

    def __init__(self, location: Location) -> None:
        self.location = location
        self._path = storage_path(location)
        self._handle: IO[bytes] | None = None

    def _kept(self) -> IO[bytes] | None:
        """The previous file's entries this one starts with (``None``: none)."""
        return None

    def __enter__(self: _File) -> _File:
        if not is_stored(self._path):
            self._path.parent.mkdir(parents=True, exist_ok=True)
        kept = self._kept()  # read before "wb" empties the file
        self._handle = self._path.open("wb")
        if kept is not None:
            with kept:
                shutil.copyfileobj(kept, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def write_entry(self, entry: Mapping[str, Any]) -> None:
        self.write_line(json.dumps(entry, ensure_ascii=False).encode() + b"\n")

    def write_line(self, line: bytes) -> None:
        """Write ``line`` as it is (one JSON Lines line, its line break included)."""
        if self._handle is None:
            raise RuntimeError(f"{type(self).__name__} must be entered (with ...) before writing")
        self._handle.write(line)


class Rejects(Protocol):
    """Where invalid records go: a :class:`RejectsFile`, or a reader's own tally of them."""

    @property
    def location(self) -> Location | None: ...

    def write(self, error: InvalidOrderError) -> None: ...


class RejectsFile(JsonLinesFile):
    """JSON Lines of invalid records: ``{"line", "source_id", "errors": [{"path", "reason"}]}``.

    Never the record itself. A local path or an object-store path; rewritten on each try.

    :param from_line: a try that continues reading at this line (after a rate-limit deferral, or
        a retry that skips the batches an earlier try sent) keeps the previous file's entries for
        the lines before it, which it will not read again, and drops the rest, which it writes
        again as it reads them: each invalid record is listed once, whatever the store
    """

    def __init__(self, location: Location, from_line: int | None = None) -> None:
        super().__init__(location)
        self.from_line = from_line

    def _kept(self) -> IO[bytes] | None:
        if self.from_line is None or not self._path.exists():
            return None
        kept: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=KEPT_IN_MEMORY)  # noqa: SIM115
        with self._path.open("rb") as previous:
            # readline, not iteration: Airflow 3.1 wraps object-store files in a class that
            # cannot be iterated.
            for entry in iter(previous.readline, b""):
                if _line_of(entry) < self.from_line:
                    kept.write(entry)
        kept.seek(0)
        return kept

    def write(self, error: InvalidOrderError) -> None:
        self.write_entry(
            {
                "line": error.line,
                "source_id": error.source_id,
                "errors": [{"path": path, "reason": reason} for path, reason in error.errors],
            }
        )


class RefusedTally:
    """A :class:`Rejects` that keeps the first few invalid records for the log, notes the line where
    a real run would stop, and hands each one on to the rejects file, if any.

    :param rejects: the rejects file (``None``: none)
    :param stop_after: a real run stops at the invalid record after this many (``max_invalid``;
        with ``on_invalid="fail"``, 0)
    :param shown: how many invalid records the log shows
    """

    def __init__(self, rejects: Rejects | None, *, stop_after: int = 0, shown: int = SHOWN_INVALID) -> None:
        self.rejects, self.stop_after, self.shown = rejects, stop_after, shown
        self.first: list[InvalidOrderError] = []
        self.count = 0
        self.stop_line: int | None = None

    @property
    def location(self) -> Location | None:
        return self.rejects.location if self.rejects is not None else None

    def write(self, error: InvalidOrderError) -> None:
        self.count += 1
        if len(self.first) < self.shown:
            self.first.append(error)
        if self.count == self.stop_after + 1:
            self.stop_line = error.line
        if self.rejects is not None:
            self.rejects.write(error)

    def describe(self) -> str | None:
        """The log line: how many were refused, where they are listed, and the first few, each with
        its line, ``source_id`` and reasons (never the record's content); ``None`` if none was."""
        if not self.count:
            return None
        where = f", each listed in {self.location}" if self.location is not None else ""
        first = "; ".join(f"[{error}]" for error in self.first)
        more = f" (the first {len(self.first)})" if self.count > len(self.first) else ""
        return f"{self.count} invalid records{where}. Refused{more}: {first}"


def _line_of(entry: bytes) -> int:
    """The line a rejects entry names; 0 (kept) when it names none."""
    try:
        line = json.loads(entry).get("line")
    except (ValueError, AttributeError):
        return 0
    return line if isinstance(line, int) else 0


def rejects_location(value: Location | None) -> Location | None:
    """``rejects_path`` as given, with an empty template rendering treated as unset."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if is_location(value):
        return value
    raise TypeError(f"rejects_path must be a path or URI, got a {type(value).__name__}")
