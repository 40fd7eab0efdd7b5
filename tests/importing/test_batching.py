from __future__ import annotations

import hashlib
import json

import pytest

from airflow_provider_voucherify.importing.batching import Batch, batches
from airflow_provider_voucherify.models import MAX_IMPORT_BYTES


def orders(count: int, size: int = 16, safe: bool = True) -> list[tuple[bytes, bool]]:
    """``count`` JSON objects of exactly ``size`` bytes each."""
    out = []
    for n in range(count):
        body = b'{"a":"' + str(n).encode().rjust(size - 8, b"0") + b'"}'
        assert len(body) == size
        out.append((body, safe))
    return out


def test_batches_hold_at_most_2000_orders_by_default() -> None:
    sizes = [batch.count for batch in batches(orders(4500))]
    assert sizes == [2000, 2000, 500]


@pytest.mark.parametrize(("batch_size", "expected"), [(1, [1, 1, 1]), (2, [2, 1]), (3, [3]), (5, [3])])
def test_batch_size_is_respected(batch_size: int, expected: list[int]) -> None:
    assert [batch.count for batch in batches(orders(3), batch_size=batch_size)] == expected


@pytest.mark.parametrize("batch_size", [0, 2001, -1])
def test_batch_size_outside_1_to_2000_is_refused(batch_size: int) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        list(batches(orders(1), batch_size=batch_size))


def test_bodies_are_json_arrays_in_input_order() -> None:
    result = list(batches(orders(5), batch_size=2))
    assert [batch.number for batch in result] == [1, 2, 3]
    decoded = [item["a"] for batch in result for item in json.loads(batch.body)]
    assert decoded == [str(n).zfill(8) for n in range(5)]


@pytest.mark.parametrize(("max_bytes", "expected"), [(2 + 3 * 16 + 2, [3]), (2 + 3 * 16 + 1, [2, 1])])
def test_the_byte_limit_counts_brackets_and_commas_exactly(max_bytes: int, expected: list[int]) -> None:
    result = list(batches(orders(3), max_bytes=max_bytes))
    assert [batch.count for batch in result] == expected
    assert all(len(batch.body) <= max_bytes for batch in result)


def test_the_10_mib_limit_splits_large_orders() -> None:
    big = orders(12, size=1024 * 1024)  # 12 MiB of orders
    result = list(batches(big))
    assert [batch.count for batch in result] == [9, 3]
    assert all(len(batch.body) <= MAX_IMPORT_BYTES for batch in result)


def test_an_order_bigger_than_a_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        list(batches(orders(1, size=20), max_bytes=21))


def test_resend_safe_only_when_every_order_has_a_source_id() -> None:
    mixed = orders(2) + orders(1, safe=False) + orders(2)
    assert [batch.resend_safe for batch in batches(mixed, batch_size=2)] == [True, False, True]


def test_fingerprint_is_the_sha256_of_the_body() -> None:
    batch = next(batches(orders(2)))
    assert batch.fingerprint == hashlib.sha256(batch.body).hexdigest()
    assert Batch(1, batch.body, 2, True).fingerprint == batch.fingerprint


def test_no_orders_no_batches() -> None:
    assert list(batches([])) == []
