"""What a file is, told by its first bytes whatever its name: plain, gzip, bzip2 and xz JSON Lines
are read; any other format, text that is not UTF-8 and a compressed stream cut short fail naming the
file, whatever ``on_invalid`` says."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_voucherify.exceptions import InvalidOrdersFileError
from airflow_provider_voucherify.importing.source import OrderSource
from airflow_provider_voucherify.importing.validation import Counts, serialized_orders
from tests.operators.conftest import order_dict

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
}


def jsonl(count: int = 3) -> bytes:
    return b"".join(json.dumps(order_dict(n)).encode() + b"\n" for n in range(1, count + 1))


def zipped(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("orders.jsonl", data)
    return buffer.getvalue()


def read_all(path: Path) -> list[tuple[int, object]]:
    with OrderSource(str(path)) as source:
        return list(source)


@pytest.mark.parametrize("name", ["orders.jsonl", "orders.jsonl.gz", "orders.txt", "orders.jsonl.zst"])
@pytest.mark.parametrize("kind", COMPRESSORS)
def test_gzip_bzip2_and_xz_are_read_whatever_the_name(tmp_path: Path, kind: str, name: str) -> None:
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(jsonl())
    path = tmp_path / name
    path.write_bytes(COMPRESSORS[kind](jsonl()))
    with OrderSource(str(path)) as source:
        assert source.format == kind
        assert list(source) == read_all(plain)
        assert source.fraction_read() == 1.0


REFUSED: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "zip": (zipped, "a zip archive"),
    "zstd": (lambda data: b"\x28\xb5\x2f\xfd\x24\x00" + data, "zstd-compressed"),
    "7z": (lambda data: b"7z\xbc\xaf\x27\x1c\x00\x04" + data, "a 7z archive"),
    "lz4": (lambda data: b"\x04\x22\x4d\x18" + data, "lz4-compressed"),
    "parquet": (lambda data: b"PAR1" + data, "a Parquet file"),
    "utf-16": (lambda data: data.decode().encode("utf-16"), "UTF-16 text"),
    "unknown binary": (lambda data: b"\x08\x00\x93\x11" + data, "binary data of a format not read"),
}


@pytest.mark.parametrize("kind", REFUSED)
def test_a_format_not_read_fails_at_once_naming_the_file_and_the_format(tmp_path: Path, kind: str) -> None:
    make, described = REFUSED[kind]
    path = tmp_path / "orders.jsonl"  # the name says nothing true: the first bytes do
    path.write_bytes(make(jsonl()))
    source = OrderSource(str(path))
    with pytest.raises(InvalidOrdersFileError) as caught:
        source.__enter__()  # opening it is enough: no record is read
    message = str(caught.value)
    assert repr(str(path)) in message
    assert f"the file is {described}" in message
    assert "plain, gzip, bzip2 or xz JSON Lines (UTF-8) is expected" in message


@pytest.mark.parametrize("kind", COMPRESSORS)
def test_a_compressed_file_cut_short_names_the_file_and_the_line_where_it_breaks(
    tmp_path: Path, kind: str
) -> None:
    whole = COMPRESSORS[kind](jsonl(200))
    path = tmp_path / "orders.jsonl.x"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    read: list[int] = []
    with pytest.raises(InvalidOrdersFileError) as caught, OrderSource(str(path)) as source:
        read.extend(line for line, _ in source)
    message = str(caught.value)
    last = read[-1] if read else 0  # bzip2 decompresses by blocks of 900 kB: maybe none whole
    assert repr(str(path)) in message
    after = f"after line {last}" if read else "before its first line"
    assert f"the {kind} data ends {after}, before its end-of-stream marker" in message
    assert f"(line {last + 1})" in message
    assert caught.value.line == last + 1
    assert isinstance(caught.value.__cause__, EOFError)


def test_corrupt_compressed_data_names_the_file(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(jsonl(50)))
    data[40:60] = b"\xff" * 20
    path = tmp_path / "orders.jsonl.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidOrdersFileError, match=r"the gzip data is corrupt") as caught:
        read_all(path)
    assert repr(str(path)) in str(caught.value)


@pytest.mark.parametrize("on_invalid", ["fail", "skip"])
def test_a_line_that_is_not_utf8_fails_the_file_naming_the_line_and_the_encoding(
    tmp_path: Path, on_invalid: str
) -> None:
    latin1 = json.dumps(order_dict(2, customer={"source_id": "c", "name": "Zoë Café"}), ensure_ascii=False)
    path = tmp_path / "export.jsonl"
    path.write_bytes(jsonl(1) + latin1.encode("latin-1") + b"\n")
    counts = Counts()
    with pytest.raises(InvalidOrdersFileError) as caught, OrderSource(str(path)) as source:
        list(serialized_orders(source, counts=counts, on_invalid=on_invalid, max_invalid=100))  # type: ignore[arg-type]
    message = str(caught.value)
    column = latin1.encode("latin-1").index(b"\xeb") + 1
    assert f"Orders file {str(path)!r} cannot be read (line 2)" in message
    assert f"the line is not UTF-8 text: byte 0xEB at column {column} invalid continuation byte" in message
    assert "Latin-1 or Windows-1252, most likely" in message
    # The text around the byte is never quoted.
    assert "Zo" not in message
    assert "Caf" not in message
    assert counts.invalid == 0  # not a record refused: the file is


def test_utf8_lines_pay_nothing_for_the_encoding_check(tmp_path: Path) -> None:
    """The check runs only on a line pydantic refused: a valid UTF-8 line with accents passes."""
    line = json.dumps(order_dict(1, customer={"source_id": "c", "name": "Zoë Café"}), ensure_ascii=False)
    path = tmp_path / "orders.jsonl"
    path.write_bytes(line.encode() + b"\n")
    with OrderSource(str(path)) as source:
        assert len(list(serialized_orders(source, counts=Counts()))) == 1
