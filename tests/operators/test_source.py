from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_voucherify.models import Order
from airflow_provider_voucherify.operators._source import (
    OrdersInMemory,
    OrderSource,
    lineage_input,
    storage_path,
)
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
    for orders in (f"file://{local}", ObjectStoragePath(f"file://{local}"), remote, str(remote)):
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


def test_storage_path_keeps_local_files_local(tmp_path: Path) -> None:
    assert storage_path(f"file://{tmp_path}/a.jsonl") == tmp_path / "a.jsonl"
    assert isinstance(storage_path("s3://bucket/key.jsonl"), ObjectStoragePath)


def test_lineage_input_names_the_file(tmp_path: Path) -> None:
    assert lineage_input(str(tmp_path / "a.jsonl")) == ("file", str(tmp_path / "a.jsonl"))
    # As Airflow's Amazon provider names S3 objects (no leading slash), so the datasets join.
    assert lineage_input("s3://dwh/exports/orders.jsonl.gz") == ("s3://dwh", "exports/orders.jsonl.gz")
    assert lineage_input(f"file://{tmp_path}/a.jsonl") == ("file", f"{tmp_path}/a.jsonl")
    assert lineage_input([order_dict(1)]) is None


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
