"""The sample: uniform, bounded, parsed as the import parses, following later lines of the input."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from airflow_provider_voucherify.importing.pipeline import ImportRules
from airflow_provider_voucherify.reconcile.sample import OrderSample, draw_sample
from tests.operators.conftest import order_dict


def records(orders: list[dict[str, Any]]) -> list[tuple[int, bytes]]:
    return [(line, json.dumps(order).encode()) for line, order in enumerate(orders, start=1)]


def test_the_sample_holds_at_most_its_size_and_is_repeatable_by_seed() -> None:
    lines = records([order_dict(n) for n in range(500)])

    counts, sample = draw_sample(lines, size=10, seed="run-1")

    assert (counts.read, counts.valid, counts.invalid) == (500, 500, 0)
    assert len(sample.orders) == 10
    assert not sample.is_census
    again = draw_sample(lines, size=10, seed="run-1")[1]
    assert [o.source_id for o in again.orders] == [o.source_id for o in sample.orders]


@pytest.mark.exhaustive
def test_every_order_is_equally_likely_to_be_sampled() -> None:
    lines = records([order_dict(n) for n in range(20)])
    seen: Counter[str] = Counter()
    for seed in range(2000):
        seen.update(o.source_id for o in draw_sample(lines, size=5, seed=seed)[1].orders)

    # 2000 draws x 5 of 20 orders: 500 each on average; a biased reservoir is off by far more.
    assert len(seen) == 20
    assert all(400 < count < 600 for count in seen.values()), seen


def test_the_sample_is_what_the_import_sent() -> None:
    _, sample = draw_sample(records([order_dict(1)]), size=5)

    sent = sample.orders[0].sent()
    assert "created_at" not in sent
    assert sent["metadata"]["original_created_at"] == "2021-03-04T05:06:07.000Z"
    assert sample.is_census


def test_invalid_refused_and_anonymous_orders_are_counted_never_sampled() -> None:
    orders = [order_dict(1), order_dict(2, amount=-1), order_dict(3), order_dict(4)]
    del orders[3]["source_id"]

    rules = ImportRules(require_source_id=False)
    counts, sample = draw_sample(records(orders), size=10, refused={"ord-0000003"}, rules=rules)

    assert (counts.valid, counts.invalid, counts.refused, counts.without_source_id) == (3, 1, 1, 1)
    assert counts.invalid_examples == [(2, "ord-0000002")]
    assert [o.source_id for o in sample.orders] == ["ord-0000001"]


def test_a_repeated_source_id_is_sampled_once_in_its_last_version() -> None:
    orders = [order_dict(1, amount=100), order_dict(2), order_dict(1, amount=200)]

    # Two orders per batch, as the import cut them: line 3 opens the second batch, an update.
    _, sample = draw_sample(records(orders), size=10, rules=ImportRules(batch_size=2))

    assert [(o.source_id, o.sent()["amount"], o.line) for o in sample.orders] == [
        ("ord-0000001", 200, 3),
        ("ord-0000002", 2500, 2),
    ]


def test_a_source_id_repeated_within_one_batch_was_refused_so_it_is_not_sent() -> None:
    orders = [order_dict(1, amount=100), order_dict(2), order_dict(1, amount=200)]

    counts, sample = draw_sample(records(orders), size=10)

    assert (counts.valid, counts.invalid) == (2, 1)
    assert counts.invalid_examples == [(3, "ord-0000001")]
    assert [(o.source_id, o.sent()["amount"]) for o in sample.orders] == [
        ("ord-0000001", 100),
        ("ord-0000002", 2500),
    ]


def test_a_customer_profile_follows_later_orders_of_the_same_customer() -> None:
    first = order_dict(1, customer={"source_id": "C-1", "email": "old@example.com", "name": "Jane"})
    later = order_dict(2, customer={"source_id": "C-1", "email": "new@example.com"})
    sample = OrderSample(size=1, seed=0)
    for line, (order, body) in enumerate(_parsed([first, later]), start=1):
        if line == 1:
            sample.offer(order, body, line)
        else:
            # Not admitted (the reservoir is full and this seed keeps the first), still followed.
            sample._rng.randrange = lambda n: n  # type: ignore[method-assign]
            sample.offer(order, body, line)

    entry = sample.orders[0]
    assert entry.source_id == "ord-0000001"
    assert sample.profiles(entry)["customer"] == {
        "source_id": "C-1",
        "email": "new@example.com",
        "name": "Jane",
    }


def test_profiles_are_forgotten_with_the_orders_that_needed_them() -> None:
    lines = records([order_dict(n, customer={"source_id": f"C-{n}"}) for n in range(300)])

    _, sample = draw_sample(lines, size=3, seed=1)

    assert len(sample._parties) == 3


def _parsed(orders: list[dict[str, Any]]) -> list[tuple[Any, bytes]]:
    from airflow_provider_voucherify.importing.validation import checked_order

    return [
        checked_order(json.dumps(o).encode(), n, True, "original_created_at") for n, o in enumerate(orders)
    ]
