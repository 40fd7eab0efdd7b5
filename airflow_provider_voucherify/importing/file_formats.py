"""What a file of orders is, told by its first bytes whatever its name: which formats are read.

Plain, gzip, bzip2 and xz JSON Lines are read (with the standard library). A format that is not read
(zip, zstd, 7z, Parquet, UTF-16 text, or any binary data) is refused by name, with a way to convert
it, before any record is read.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from typing import Any

from airflow_provider_voucherify.exceptions import InvalidOrdersFileError

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
# The first bytes that tell a file's format, or a JSON array after blank space.
FORMAT_BYTES = 4096


def file_format(start: bytes) -> tuple[str, Any]:
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
    if b"\x00" in start[:FORMAT_BYTES]:
        raise InvalidOrdersFileError(f"the file is binary data of a format not read; {FORMATS_READ}")
    return "plain", None


def broken_stream(error: BaseException) -> bool:
    """Whether ``error`` says that compressed data is cut short or corrupt, not that a read failed
    (a lost connection to an object store stays what it is: an error a retry can cure)."""
    if isinstance(error, BROKEN_STREAM):
        return True
    return type(error) is OSError and error.errno is None  # bz2: "Invalid data stream"
