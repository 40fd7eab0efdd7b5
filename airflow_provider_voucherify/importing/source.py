"""Where the orders come from: an in-memory list, or JSON Lines read as a stream.

:class:`OrderSource` yields ``(line, record)`` pairs with 1-based line numbers: a record is the raw
bytes of one JSON line (validated later by pydantic's own JSON parser, never ``json.loads``) or,
for a list, the dict / ``Order`` itself with its 1-based position. Files are read line by line
through a 1 MiB buffer, so memory does not grow with the file. Blank lines are not records, but
they still count in line numbers, so a line number always points at the line in an editor.

Reading is bounded: no order can be larger than one import (10 MiB), so no line may be either, and
a longer line stops the reading after 10 MiB (a 48 MB minified array never sits in memory). A file
that is a JSON array, pretty-printed or on one line, is refused at its first bytes.

A file's format is told by its first bytes, whatever its name: plain, gzip, bzip2 and xz JSON Lines
are read (with the standard library); a format that is not read (zip, zstd, 7z, Parquet, UTF-16
text, or any binary data) is refused when the file is opened, before any record is read, naming the
file and the format. A compressed stream cut short (an interrupted copy) or corrupt stops the
reading at the line where it breaks.

Each of these raises :class:`~airflow_provider_voucherify.exceptions.InvalidOrdersFileError`
whatever ``on_invalid`` says (past such a line, nothing is known to be a record), and every such
error raised while the source is entered names the file (:meth:`OrderSource.__exit__` adds it).
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import itertools
import lzma
import os
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from typing_extensions import TypeIs

from airflow_provider_voucherify.exceptions import InvalidOrdersFileError
from airflow_provider_voucherify.models import MAX_IMPORT_BYTES, Order


class StoragePath(Protocol):
    """What is used of a file in an object store: Airflow's ``ObjectStoragePath``, handed in by the
    operators (the engine imports no Airflow; a URI given as text is turned into one by them)."""

    @property
    def protocol(self) -> str: ...

    @property
    def path(self) -> str: ...

    def open(self, mode: str = ...) -> Any: ...

    def stat(self) -> Any: ...

    def exists(self) -> bool: ...


class _Stream(Protocol):
    """What is used of a (decompressed) byte stream: ``BufferedReader``, ``GzipFile``, ``BZ2File``,
    ``LZMAFile``."""

    def readline(self, size: int = ..., /) -> bytes: ...

    def read(self, size: int = ..., /) -> bytes: ...

    def peek(self, size: int = ..., /) -> bytes: ...

    def tell(self) -> int: ...

    def close(self) -> None: ...


Record = bytes | Mapping[str, Any] | Order
Location = str | os.PathLike[str] | StoragePath
OrdersArg = Location | Sequence[Mapping[str, Any] | Order]

GZIP_MAGIC = b"\x1f\x8b"
# The compressed formats read, by their first bytes: (name, how to open the decompressed stream).
READ_FORMATS: tuple[tuple[bytes, str, Any], ...] = (
    (GZIP_MAGIC, "gzip", lambda raw: gzip.GzipFile(fileobj=raw, mode="rb")),
    (b"BZh", "bzip2", lambda raw: bz2.BZ2File(raw, mode="rb")),
    (b"\xfd7zXZ\x00", "xz", lambda raw: lzma.LZMAFile(raw, mode="rb")),  # noqa: SIM115
)
# Formats recognised by their first bytes, to be refused by name with a way to convert them.
REFUSED_FORMATS: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "a zip archive"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"\x04\x22\x4d\x18", "lz4-compressed"),
    (b"\xff\x06\x00\x00sNaPpY", "snappy-compressed"),
    (b"\x1f\x9d", "compress-ed (.Z)"),
    (b"LZIP", "lzip-compressed"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"PAR1", "a Parquet file"),
    (b"Obj\x01", "an Avro file"),
    (b"ORC", "an ORC file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"%PDF", "a PDF document"),
    (b"\xff\xfe\x00\x00", "UTF-32 text"),
    (b"\x00\x00\xfe\xff", "UTF-32 text"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\xfe\xff", "UTF-16 text"),
)
FORMATS_READ = (
    "plain, gzip, bzip2 or xz JSON Lines (UTF-8) is expected: decompress it, or recompress it "
    "with gzip, e.g. zstd -dc orders.jsonl.zst | gzip > orders.jsonl.gz"
)
# Errors of a compressed stream that is cut short or corrupt (bz2 raises a bare OSError).
BROKEN_STREAM = (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile)
UTF8_BOM = b"\xef\xbb\xbf"
READ_BUFFER = 1024 * 1024
# The longest line read: one import's body, plus the line break.
MAX_LINE_BYTES = MAX_IMPORT_BYTES + 2
JSON_ARRAY = (
    "this file is a JSON array; one order per line (JSON Lines) is expected. "
    "Convert it with: jq -c '.[]' orders.json > orders.jsonl"
)
LOCAL_PROTOCOLS = ("file", "local")


def is_stored(location: object) -> TypeIs[StoragePath]:
    """Whether ``location`` is an object-store path (it has a ``protocol``: a ``pathlib.Path`` has not,
    while before Airflow 3.2 an ``ObjectStoragePath`` is a ``pathlib.Path`` too)."""
    return hasattr(location, "protocol") and hasattr(location, "open")


def is_location(value: object) -> TypeIs[Location]:
    """Whether ``value`` names a file: a path, a URI, or an object-store path."""
    return isinstance(value, (str, os.PathLike)) or is_stored(value)


def storage_path(location: Location) -> Path | StoragePath:
    """A local ``Path`` for local files (fastest to read), else the object-store path as given.

    :raises ValueError: for a URI given as text other than ``file://`` (the operators turn those
        into ``ObjectStoragePath`` before they reach the engine)
    """
    if is_stored(location):
        return Path(location.path) if location.protocol in LOCAL_PROTOCOLS else location
    if isinstance(location, str) and "://" in location:
        scheme, _, rest = location.partition("://")
        if scheme in LOCAL_PROTOCOLS:
            return Path(rest)
        raise ValueError(f"{location!r} is a URI: hand it in as an object-store path (an ObjectStoragePath)")
    return Path(location)


class OrdersInMemory(Sequence[Mapping[str, Any] | Order]):
    """A list of orders that shows only its length in Airflow's "Rendered Template" view.

    Airflow stores every rendered template field in its database and shows it in the UI; for a list
    of orders that would be customers' personal data. Airflow falls back to ``str()`` for types it
    does not know, so wrapping the list after rendering keeps the content out.
    """

    def __init__(self, records: Sequence[Mapping[str, Any] | Order]) -> None:
        self._records = records

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: Any) -> Any:
        return self._records[index]

    def __iter__(self) -> Iterator[Mapping[str, Any] | Order]:
        return iter(self._records)

    def __str__(self) -> str:
        return f"<{len(self)} orders in memory, not shown: they may hold personal data>"

    __repr__ = __str__


def describe_orders_arg(orders: object) -> str:
    """How the ``orders`` argument reads in errors, without its content (which may be personal)."""
    if is_location(orders):
        return repr(str(orders))
    return f"a {type(orders).__name__}"


class OrderSource:
    """The records of the operator's ``orders`` argument, with 1-based line numbers.

    Use it as a context manager (it closes the file) and iterate it once.

    :param orders: a list of dicts / ``Order``s, or a path or URI (``str``, ``os.PathLike`` or
        object-store path) to JSON Lines, plain or compressed with gzip, bzip2 or xz (told by
        its first bytes)
    """

    def __init__(self, orders: OrdersArg) -> None:
        self._records: Sequence[Mapping[str, Any] | Order] | None = None
        self.path: Path | StoragePath | None = None
        self._stream: _Stream | None = None
        self._raw: io.BufferedReader[Any] | None = None
        self._size: int | None = None
        self._first_line = 1
        self.name: str | None = str(orders) if is_location(orders) else None
        #: ``"plain"``, ``"gzip"``, ``"bzip2"`` or ``"xz"`` once entered (``None`` for a list)
        self.format: str | None = None
        if isinstance(orders, str) and orders.lstrip()[:1] in ("[", "{"):
            raise TypeError(
                "orders is a string that looks like JSON, not a path. A Jinja template renders to a "
                "string: pass the upstream task's output (e.g. orders=transform.output) or set "
                "render_template_as_native_obj=True on the DAG."
            )
        if is_location(orders):
            self.path = storage_path(orders)
        elif isinstance(orders, Sequence) and not isinstance(orders, (str, bytes, bytearray)):
            self._records = orders
        else:
            raise TypeError(
                "orders must be a list of orders or a path/URI to JSON Lines, "
                f"got {describe_orders_arg(orders)}"
            )

    @property
    def total(self) -> int | None:
        """The number of records when known up front (a list), else ``None``."""
        return len(self._records) if self._records is not None else None

    def __enter__(self) -> OrderSource:
        if self.path is not None:
            self._raw = self._open_raw(self.path)
            self._stream = self._raw
            try:
                self.format, opener = self._format(self._raw.peek(READ_BUFFER)[:READ_BUFFER])
            except InvalidOrdersFileError as error:
                self._raw.close()
                raise error.in_file(self.name or "") from None
            if opener is not None:
                self._stream = opener(self._raw)
        return self

    @staticmethod
    def _format(start: bytes) -> tuple[str, Any]:
        """The format of a file that starts with ``start``, and how to open its decompressed stream.

        :raises InvalidOrdersFileError: for a format that is not read
        """
        for magic, name, opener in READ_FORMATS:
            if start.startswith(magic):
                return name, opener
        for magic, name in REFUSED_FORMATS:
            if start.startswith(magic):
                raise InvalidOrdersFileError(f"the file is {name}; {FORMATS_READ}")
        # JSON text never holds a NUL byte (a control character must be escaped): binary data.
        if b"\x00" in start[:4096]:
            raise InvalidOrdersFileError(f"the file is binary data of a format not read; {FORMATS_READ}")
        return "plain", None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, InvalidOrdersFileError) and self.name is not None:
            exc.in_file(self.name)  # raised by reading or by the validation of what was read
        for stream in (self._stream, self._raw):
            if stream is not None:
                stream.close()
        self._stream = self._raw = None

    def _open_raw(self, path: Path | StoragePath) -> io.BufferedReader[Any]:
        if not is_stored(path):
            handle = io.BufferedReader(io.FileIO(path, "rb"), buffer_size=READ_BUFFER)
            self._size = os.fstat(handle.fileno()).st_size
            return handle
        remote: Any = path.open("rb")
        try:
            self._size = int(path.stat().st_size)
        except (OSError, TypeError, ValueError, KeyError):
            self._size = None
        # fsspec files split lines in Python; a C BufferedReader on top makes iteration fast.
        return io.BufferedReader(remote, buffer_size=READ_BUFFER)

    def fraction_read(self) -> float | None:
        """How much of the file was read (0..1, of the compressed size when compressed); ``None``
        if unknown."""
        if self._raw is None or not self._size:
            return None
        try:
            return min(self._raw.tell() / self._size, 1.0)
        except (OSError, ValueError):
            return None

    @property
    def size(self) -> int | None:
        """The file's size in bytes (compressed, when compressed) once entered, when known."""
        return self._size

    def position(self) -> int | None:
        """Bytes of the file (decompressed, when compressed) read so far; ``None`` for a list."""
        return self._stream.tell() if self._stream is not None else None

    def skip_to(self, offset: int | None, line: int) -> None:
        """Start reading at record ``line`` (1-based), which begins ``offset`` bytes into the file
        (decompressed, when compressed; ``None`` for a list), without reading the records before it.

        A plain file seeks; a compressed stream is decompressed up to ``offset`` and discarded.
        """
        self._first_line = line
        if self._records is not None:
            return
        if self._stream is None or offset is None:
            raise RuntimeError("OrderSource.skip_to needs an entered file source and a byte offset")
        if self._stream is self._raw and self._raw.seekable():
            self._raw.seek(offset)
            return
        remaining = offset - self._stream.tell()
        while remaining > 0:
            chunk = self._stream.read(min(remaining, READ_BUFFER))
            if not chunk:
                raise EOFError(f"the file ends before byte {offset}")
            remaining -= len(chunk)

    def __iter__(self) -> Iterator[tuple[int, Record]]:
        if self._records is not None:
            first = self._first_line
            yield from enumerate(itertools.islice(self._records, first - 1, None), start=first)
            return
        if self._stream is None:
            raise RuntimeError("OrderSource must be entered (with ...) before reading a file")
        limit = MAX_LINE_BYTES
        # readline(limit) bounds each line; iter(callable, sentinel) and enumerate keep the loop in C.
        lines = enumerate(iter(functools.partial(self._stream.readline, limit), b""), start=self._first_line)
        number = self._first_line - 1
        # One try around the whole loop, not one per line: it costs nothing per line.
        try:
            self._refuse_array(self._stream.peek(1)[:READ_BUFFER])
            for number, line in lines:
                if len(line) == limit and not line.endswith(b"\n"):
                    raise InvalidOrdersFileError(self._too_long(line), line=number)
                # Only the very first line can carry a byte-order mark; checked once, outside the loop.
                if line.startswith(UTF8_BOM):
                    line = line[len(UTF8_BOM) :]
                if line and not line.isspace():
                    yield number, line
                break
            for number, line in lines:
                if len(line) == limit and not line.endswith(b"\n"):
                    raise InvalidOrdersFileError(self._too_long(line), line=number)
                if not line.isspace():
                    yield number, line
        except (*BROKEN_STREAM, OSError) as error:
            if self.format == "plain" or not _broken_stream(error):
                raise
            raise InvalidOrdersFileError(self._broken(error, number), line=number + 1) from error

    def _broken(self, error: BaseException, last: int) -> str:
        after = f"after line {last}" if last >= self._first_line else "before its first line"
        if isinstance(error, EOFError):
            return (
                f"the {self.format} data ends {after}, before its end-of-stream marker: the file is "
                "cut short (an interrupted copy or upload?); copy it again"
            )
        return f"the {self.format} data is corrupt {after} ({error}); export the file again"

    @staticmethod
    def _refuse_array(start: bytes) -> None:
        """Refuse a JSON array from the first bytes of the file (before any line is read)."""
        if start.startswith(UTF8_BOM):
            start = start[len(UTF8_BOM) :]
        text = start.lstrip()
        if text.startswith(b"["):
            raise InvalidOrdersFileError(JSON_ARRAY, line=start[: len(start) - len(text)].count(b"\n") + 1)

    @staticmethod
    def _too_long(line: bytes) -> str:
        if line.lstrip(UTF8_BOM + b" \t\r\n").startswith(b"["):
            return JSON_ARRAY
        return (
            f"a line is longer than {MAX_IMPORT_BYTES} bytes, more than one import takes, so it cannot "
            "be an order: is the file JSON Lines (one order per line)?"
        )


def _broken_stream(error: BaseException) -> bool:
    """Whether ``error`` says that compressed data is cut short or corrupt, not that a read failed
    (a lost connection to an object store stays what it is: an error a retry can cure)."""
    if isinstance(error, BROKEN_STREAM):
        return True
    return type(error) is OSError and error.errno is None  # bz2: "Invalid data stream"
