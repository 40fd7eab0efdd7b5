"""Resume positions: continuing at batch k reads the same records as the first pass, without re-reading."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.importing.batching import Batch, batches
from airflow_provider_voucherify.importing.continuation import (
    Checkpoints,
    Continuation,
    Position,
    SourceChangedError,
    SourceIdentity,
)
from airflow_provider_voucherify.importing.source import OrderSource
from airflow_provider_voucherify.importing.validation import Counts, serialized_orders
from tests.operators.conftest import order_dict, write_jsonl


def _lines() -> list[dict[str, Any] | str]:
    lines: list[dict[str, Any] | str] = []
    for n in range(1, 41):
        lines.append(order_dict(n))
        if n % 7 == 0:
            lines.append("")  # a blank line: not a record, but it counts in line numbers
        if n % 9 == 0:
            lines.append('{"source_id": "bad", "amount": "lots"}')  # invalid, skipped
    return lines


def _run(
    orders: Any, start: Position, identity: SourceIdentity | None = None
) -> tuple[list[tuple[Batch, Position]], Counts]:
    with OrderSource(orders) as source:
        checkpoints = Checkpoints(source, start, identity)
        counts = start.counts()
        valid = serialized_orders(checkpoints.records(), counts=counts, on_invalid="skip", max_invalid=100)
        seen = [
            (batch, checkpoints.current)
            for batch in checkpoints.batches(batches(valid, batch_size=6), counts)
        ]
    return seen, counts


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_continuing_at_any_batch_matches_the_first_pass(tmp_path: Path, gz: bool) -> None:
    path = write_jsonl(tmp_path / "orders.jsonl", _lines(), gz=gz)
    first, total = _run(str(path), Position())
    assert len(first) == 7
    with OrderSource(str(path)) as source:
        identity = SourceIdentity.of(source)
    for k, (_, position) in enumerate(first):
        assert position.batch == k  # where batch k + 1 starts
        again, counts = _run(str(path), position, identity)
        assert [(b.number, b.body) for b, _ in again] == [(b.number, b.body) for b, _ in first[k:]]
        assert counts == total  # the records before the position are counted once, not re-read


def test_a_list_continues_by_position(tmp_path: Path) -> None:
    orders = [order_dict(n) for n in range(1, 20)]
    first, _ = _run(orders, Position())
    again, counts = _run(orders, first[2][1], SourceIdentity(size=19))
    assert [b.body for b, _ in again] == [b.body for b, _ in first[2:]]
    assert counts.read == 19


def test_a_changed_file_is_refused(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "orders.jsonl", _lines())
    first, _ = _run(str(path), Position())
    with OrderSource(str(path)) as source:
        identity = SourceIdentity.of(source)
    write_jsonl(path, [order_dict(1000 + n) for n in range(40)])
    os.utime(path, ns=(1, 1))
    with pytest.raises(SourceChangedError, match="changed while the import waited"):
        _run(str(path), first[3][1], identity)


def test_a_continuation_survives_json() -> None:
    state = Continuation(
        position=Position(batch=3, line=19, offset=4711, read=18, valid=17, invalid=1),
        identity=SourceIdentity(size=10, modified_ns=5, head_sha256="ab"),
        action_ids=["aa_1", "aa_2", "aa_3"],
        sent=18,
        plan={"limit": 10, "window_opens": 3600.0, "period": 3600.0, "used": 0, "learned": False},
        waits=1,
    )
    import json

    assert Continuation.from_dict(json.loads(json.dumps(state.to_dict()))) == state
