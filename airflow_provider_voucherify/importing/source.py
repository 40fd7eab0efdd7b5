"""Where the orders come from: an in-memory list, or JSON Lines read as a stream.

:class:`OrderSource` yields ``(line, record)`` pairs with 1-based line numbers: a record is the raw
bytes of one JSON line (validated later by pydantic's own JSON parser, never ``json.loads``) or,
for a list, the dict / ``Order`` itself with its 1-based position. Files are read line by line
through a 1 MiB buffer (:mod:`~airflow_provider_voucherify.importing.lines` tells how, fast and
bounded), so memory does not grow with the file. Blank lines are not records, but they still count in line
numbers, so a line number always points at the line in an editor.

Reading is bounded: no order can be larger than one import (10 MiB), so no line may be either, and
a longer line stops the reading after 10 MiB (a 48 MB minified array never sits in memory). A file
that is a JSON array, pretty-printed or on one line, is refused at its first bytes.

A file's format is told by its first bytes, whatever its name
(:mod:`~airflow_provider_voucherify.importing.file_formats`): plain, gzip, bzip2 and xz JSON Lines
are read; any other format is refused when the file is opened, before any record is read, naming
the file and the format. A compressed stream cut short (an interrupted copy) or corrupt stops the
reading at the line where it breaks.

Each of these raises :class:`~airflow_provider_voucherify.exceptions.InvalidOrdersFileError`
whatever ``on_invalid`` says (past such a line, nothing is known to be a record), and every such
error raised while the source is entered names the file (:meth:`OrderSource.__exit__` adds it).
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from typing_extensions import TypeIs

from airflow_provider_voucherify.exceptions import InvalidOrdersFileError
from airflow_provider_voucherify.importing.file_formats import (
    BROKEN_STREAM,
    FORMAT_BYTES,
    broken_stream,
    file_format,
)
from airflow_provider_voucherify.importing.lines import LineTooLong, first_unbroken_stretch, stream_blocks
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

    def read(self, size: int = ..., /) -> bytes: ...

    def read1(self, size: int = ..., /) -> bytes: ...

    def peek(self, size: int = ..., /) -> bytes: ...

    def tell(self) -> int: ...

    def close(self) -> None: ...


Record = bytes | Mapping[str, Any] | Order
Location = str | os.PathLike[str] | StoragePath
OrdersArg = Location | Sequence[Mapping[str, Any] | Order]

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
        # Once reading: the block of lines being read and its offset in the file (decompressed).
        self._block: tuple[int, io.BytesIO] | None = None
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
                self.format, opener = file_format(self._head(self._raw))
            except InvalidOrdersFileError as error:
                self._raw.close()
                raise error.in_file(self.name or "") from None
            if opener is not None:
                self._stream = opener(self._raw)
        return self

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
        """Bytes of the file (decompressed, when compressed) read so far: the offset of the record
        after the latest one read; ``None`` for a list."""
        if self._block is not None:
            return self._block[0] + self._block[1].tell()
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
        number = self._first_line - 1
        # One try around the whole loop, not one per line: it costs nothing per line.
        try:
            lines = enumerate(self._lines(self._stream), start=self._first_line)
            for number, line in lines:
                # Only the very first line can carry a byte-order mark; checked once, outside the loop.
                if line.startswith(UTF8_BOM):
                    line = line[len(UTF8_BOM) :]
                if line and not line.isspace():
                    yield number, line
                break
            for number, line in lines:
                if not line.isspace():
                    yield number, line
        except LineTooLong as error:
            raise InvalidOrdersFileError(self._too_long(error.head), line=number + 1) from None
        except (*BROKEN_STREAM, OSError) as error:
            if self.format == "plain" or not broken_stream(error):
                raise
            raise InvalidOrdersFileError(self._broken(error, number), line=number + 1) from error

    def _lines(self, stream: _Stream) -> Iterator[bytes]:
        """The lines of the rest of the (decompressed) ``stream``, each shorter than ``MAX_LINE_BYTES``:
        a local plain file itself when it holds no longer stretch (checked as the file is when reading
        starts), else lines cut from :func:`stream_blocks` (which raises ``LineTooLong``)."""
        self._refuse_array(self._head(stream))
        local = self._local_file()
        if local is not None:
            start, end = local.tell(), self._size or 0
            if first_unbroken_stretch(local.fileno(), start, end, MAX_LINE_BYTES) is None:
                return local
        return self._lines_in_blocks(stream)

    def _local_file(self) -> io.BufferedReader[Any] | None:
        """The buffered local file when the stream is one (plain), which can be read by position."""
        raw = self._raw
        if (
            self._stream is raw
            and raw is not None
            and isinstance(raw.raw, io.FileIO)
            and hasattr(os, "pread")
        ):
            return raw
        return None

    def _head(self, stream: _Stream) -> bytes:
        """The next bytes of ``stream`` (at most ``FORMAT_BYTES``), left unread. A buffered reader's
        ``peek`` returns its whole buffer (1 MiB, a fresh copy), so a local file is read by position."""
        local = self._local_file()
        if stream is local:
            return os.pread(local.fileno(), FORMAT_BYTES, local.tell())
        return stream.peek(FORMAT_BYTES)[:FORMAT_BYTES]

    def _lines_in_blocks(self, stream: _Stream) -> Iterator[bytes]:
        for block in stream_blocks(stream.read1, stream.tell(), size=READ_BUFFER, limit=MAX_LINE_BYTES):
            self._block = block
            yield from block[1]

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
