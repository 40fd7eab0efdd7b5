from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_voucherify.exceptions import InvalidOrderError, InvalidOrdersFileError
from airflow_provider_voucherify.importing.source import (
    OrdersInMemory,
    OrderSource,
    storage_path,
)
from airflow_provider_voucherify.models import MAX_IMPORT_BYTES, Order
from airflow_provider_voucherify.operators._task import resolved
from tests.operators.conftest import order_dict, write_jsonl


def read_all(orders: object) -> list[tuple[int, object]]:
    with OrderSource(orders) as source:  # type: ignore[arg-type]
        return list(source)


def test_list_records_are_numbered_from_1_and_counted() -> None:
    records = [order_dict(1), Order(source_id="o-2")]
    source = OrderSource(records)
    assert source.total == 2
    assert read_all(records) == [(1, records[0]), (2, records[1])]


def test_orders_in_memory_read_like_the_list_but_print_only_their_length() -> None:
    records = [order_dict(1), order_dict(2)]
    wrapped = OrdersInMemory(records)
    assert read_all(wrapped) == read_all(records)
    assert wrapped[1] is records[1]
    assert str(wrapped) == repr(wrapped) == "<2 orders in memory, not shown: they may hold personal data>"


def test_jsonl_lines_are_raw_bytes_numbered_like_an_editor(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"source_id": "a"}\r\n\n   \n{"source_id": "b"}\nnot json\n{"source_id": "c"}'
    )
    assert read_all(str(path)) == [
        (1, b'{"source_id": "a"}\r\n'),
        (4, b'{"source_id": "b"}\n'),
        (5, b"not json\n"),
        (6, b'{"source_id": "c"}'),
    ]


def test_blank_first_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_bytes(b'\n{"source_id": "a"}\n')
    assert read_all(path) == [(2, b'{"source_id": "a"}\n')]


@pytest.mark.parametrize("name", ["orders.jsonl.gz", "orders.jsonl"])
def test_gzip_is_detected_from_content_whatever_the_name(tmp_path: Path, name: str) -> None:
    path = write_jsonl(tmp_path / name, [order_dict(1), order_dict(2)], gz=True)
    lines = read_all(path)
    assert [number for number, _ in lines] == [1, 2]
    assert b'"ord-0000002"' in lines[1][1]  # type: ignore[operator]


@pytest.mark.parametrize("gz", [False, True])
def test_object_storage_paths_are_read(tmp_path: Path, memory_storage: str, gz: bool) -> None:
    local = write_jsonl(tmp_path / "orders.jsonl", [order_dict(1), order_dict(2), order_dict(3)], gz=gz)
    remote = ObjectStoragePath(f"{memory_storage}/orders.jsonl")
    remote.write_bytes(local.read_bytes())
    # A URI given as text is made an ObjectStoragePath by the operators (resolved) before the engine.
    for orders in (f"file://{local}", ObjectStoragePath(f"file://{local}"), remote, resolved(str(remote))):
        assert [number for number, _ in read_all(orders)] == [1, 2, 3]


def test_fraction_read_reaches_one(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "orders.jsonl", (order_dict(n) for n in range(5000)))
    with OrderSource(path) as source:
        fractions = [source.fraction_read() for _ in source]
    assert fractions[-1] == 1.0
    assert all(0 < fraction <= 1 for fraction in fractions if fraction is not None)


def test_fraction_read_is_unknown_for_lists() -> None:
    with OrderSource([order_dict(1)]) as source:
        assert source.fraction_read() is None


def test_a_json_string_is_refused_with_a_hint() -> None:
    with pytest.raises(TypeError, match="render_template_as_native_obj"):
        OrderSource("[{'source_id': 'a'}]")


@pytest.mark.parametrize("orders", [42, b'{"a": 1}', {"source_id": "a"}])
def test_other_types_are_refused_without_echoing_content(orders: object) -> None:
    with pytest.raises(TypeError, match="orders must be a list") as error:
        OrderSource(orders)  # type: ignore[arg-type]
    assert "source_id" not in str(error.value)


def test_reading_a_file_requires_entering_the_source(orders_file: Path) -> None:
    with pytest.raises(RuntimeError, match="entered"):
        list(OrderSource(orders_file))


def test_storage_path_keeps_local_files_local_and_wants_stores_as_paths(tmp_path: Path) -> None:
    assert storage_path(f"file://{tmp_path}/a.jsonl") == tmp_path / "a.jsonl"
    assert storage_path(str(tmp_path / "a.jsonl")) == tmp_path / "a.jsonl"
    with pytest.raises(ValueError, match="object-store path"):
        storage_path("s3://bucket/key.jsonl")


def test_memory_stays_bounded_by_the_buffer_not_the_file(tmp_path: Path) -> None:
    # A 50,000-line gzip file read through: only one line is held at a time.
    path = tmp_path / "big.jsonl.gz"
    with gzip.open(path, "wb") as handle:
        for n in range(50_000):
            handle.write(b'{"source_id": "o-%d"}\n' % n)
    count = 0
    with OrderSource(path) as source:
        for count, _ in source:  # noqa: B007
            pass
    assert count == 50_000


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b'[\n  {"source_id": "a"},\n  {"source_id": "b"}\n]\n', 1),  # pretty-printed
        (b'[{"source_id":"a"},{"source_id":"b"}]', 1),  # minified on one line
        (b'\xef\xbb\xbf  [{"source_id":"a"}]', 1),  # with a byte-order mark
        (b'\n\n  [{"source_id":"a"}]', 3),  # after blank lines
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_a_json_array_file_is_refused_before_any_record(
    tmp_path: Path, content: bytes, line: int, gz: bool
) -> None:
    path = tmp_path / "orders.json"
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(InvalidOrdersFileError, match="JSON array; one order per line") as caught:
        read_all(path)
    assert caught.value.line == line
    assert isinstance(caught.value, InvalidOrderError)  # classified with the other input errors


def test_a_line_of_exactly_one_import_is_read(tmp_path: Path) -> None:
    record = b'{"source_id":"a","metadata":{"k":"' + b"v" * (MAX_IMPORT_BYTES - 40) + b'"}}'
    assert len(record) <= MAX_IMPORT_BYTES
    path = tmp_path / "orders.jsonl"
    path.write_bytes(record + b"\r\n" + b'{"source_id":"b"}')
    assert [number for number, _ in read_all(path)] == [1, 2]
