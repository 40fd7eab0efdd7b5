"""Bounded lines: the check that lets a local file be read by plain iteration never misses a line
that is too long, and blocks of whole lines keep every byte, every offset and the bound, however the
stream hands its bytes over."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_voucherify.exceptions import InvalidOrdersFileError
from airflow_provider_voucherify.importing.lines import LineTooLong, first_unbroken_stretch, stream_blocks
from airflow_provider_voucherify.importing.source import MAX_LINE_BYTES, OrderSource

PROPERTY = settings(max_examples=300, deadline=None)
# Lines of a few bytes to a few dozen, blank ones and CRLF ones among them.
data = st.lists(
    st.tuples(st.integers(min_value=0, max_value=40), st.sampled_from([b"\n", b"\r\n", b""])), max_size=30
).map(lambda lines: b"".join(b"x" * length + end for length, end in lines))


def too_long(content: bytes, limit: int) -> int | None:
    """The index of the first line of ``limit`` bytes or more (line break not counted), if any."""
    for index, line in enumerate(content.split(b"\n")):
        if len(line) >= limit:
            return index
    return None


@PROPERTY
@given(
    content=data, limit=st.integers(min_value=2, max_value=30), skip=st.integers(min_value=0, max_value=60)
)
def test_a_line_too_long_is_always_found_by_the_check(
    tmp_path_factory: pytest.TempPathFactory, content: bytes, limit: int, skip: int
) -> None:
    path = tmp_path_factory.mktemp("lines") / "orders.jsonl"
    path.write_bytes(content)
    # Start at a line's start, as a resumed read does.
    start = content.rfind(b"\n", 0, min(skip, len(content))) + 1
    with path.open("rb") as handle:
        found = first_unbroken_stretch(handle.fileno(), start, len(content), limit)
    if too_long(content[start:], limit) is not None:
        assert found is not None


def pieces(content: bytes, sizes: list[int]) -> io.BytesIO:
    """A stream whose reads return pieces of the given sizes in turn (as decompressors do)."""
    stream = io.BytesIO(content)
    turns = iter(sizes * (len(content) + 1))

    def read(size: int) -> bytes:
        return stream.read(min(size, next(turns)))

    stream.read1 = read  # type: ignore[method-assign]
    return stream


@PROPERTY
@given(
    content=data,
    limit=st.integers(min_value=2, max_value=30),
    sizes=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=5),
    start=st.integers(min_value=0, max_value=1000),
)
def test_blocks_hold_every_byte_at_its_offset_or_stop_at_the_first_line_too_long(
    content: bytes, limit: int, sizes: list[int], start: int
) -> None:
    size = min(limit - 1, 12) or 1
    out: list[tuple[int, bytes]] = []
    blocks = stream_blocks(pieces(content, sizes).read1, start, size=size, limit=limit)
    first_too_long = too_long(content, limit)
    try:
        for offset, block in blocks:
            out.append((offset, block.getvalue()))
    except LineTooLong as error:
        assert first_too_long is not None
        lines_out = b"".join(block for _, block in out).split(b"\n")[:-1]
        assert len(lines_out) == first_too_long  # every line before it came out, none after
        long_line = content.split(b"\n")[first_too_long]
        assert error.head  # its first bytes read, up to 64
        assert long_line.startswith(error.head)
        return
    assert first_too_long is None
    assert b"".join(block for _, block in out) == content
    offsets = [start + sum(len(block) for _, block in out[:k]) for k in range(len(out))]
    assert [offset for offset, _ in out] == offsets
    assert out[-1] == (start + len(content), b"")
    assert all(block.endswith(b"\n") for _, block in out[:-2])


def long_line_file(path: Path, middle: int) -> Path:
    """Orders around one line of ``middle`` bytes."""
    path.write_bytes(b'{"source_id":"a"}\n' + b"x" * middle + b'\n{"source_id":"b"}\n{"source_id":"c"}')
    return path


def read_with_positions(path: Path) -> list[tuple[int, int | None]]:
    with OrderSource(path) as source:
        return [(number, source.position()) for number, _ in source]


def test_a_line_one_byte_under_the_bound_is_read_the_careful_way_with_the_same_offsets(
    tmp_path: Path,
) -> None:
    # The check cannot rule a too-long line out here, so the file is read in blocks instead.
    middle = MAX_LINE_BYTES - 1
    path = long_line_file(tmp_path / "orders.jsonl", middle)
    with path.open("rb") as handle:
        assert first_unbroken_stretch(handle.fileno(), 0, path.stat().st_size, MAX_LINE_BYTES) is not None
    first, second = 18, 18 + middle + 1
    assert read_with_positions(path) == [(1, first), (2, second), (3, second + 18), (4, second + 18 + 17)]


def test_a_line_of_the_bound_stops_the_reading_after_the_lines_before_it(tmp_path: Path) -> None:
    path = long_line_file(tmp_path / "orders.jsonl", MAX_LINE_BYTES)
    with OrderSource(path) as source:
        records = iter(source)
        assert next(records)[0] == 1
        with pytest.raises(InvalidOrdersFileError, match="a line is longer than") as caught:
            next(records)
    assert caught.value.line == 2
