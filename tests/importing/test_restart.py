"""A retry after a killed try reads on where the last batch it may skip ended, not from the start."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pytest_mock import MockerFixture

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.importing import validation as _validation
from airflow_provider_voucherify.importing.continuation import Position, SourceIdentity, restart, where
from airflow_provider_voucherify.importing.source import OrderSource
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from tests.importing.test_ledger import DictStore
from tests.operators.conftest import order_dict, write_jsonl
from tests.operators.test_import_orders import run, stored

ORDERS, BATCH, KILLED_AFTER = 40, 5, 3  # 8 batches; the worker dies posting batch 4
IDENTITY = SourceIdentity(size=100, modified_ns=1, head_sha256="ab")


def _lines() -> list[dict[str, Any] | str]:
    lines: list[dict[str, Any] | str] = []
    for n in range(ORDERS):
        lines.append(order_dict(n))
        if n % 6 == 5:
            lines.append(f'{{"source_id": "bad-{n}", "amount": "lots"}}')  # invalid, listed in rejects
    return lines


def _operator(path: Path, rejects: Path) -> ImportOrdersOperator:
    return ImportOrdersOperator(
        task_id="import_orders",
        orders=str(path),
        batch_size=BATCH,
        on_invalid="skip",
        max_invalid=100,
        rejects_path=str(rejects),
    )


def _killed_try(mocker: MockerFixture, operator: ImportOrdersOperator, store: DictStore) -> None:
    """A try whose worker dies while posting batch ``KILLED_AFTER + 1``."""
    original = VoucherifyHook.import_serialized
    posted = 0

    def post(self: VoucherifyHook, body: bytes, **kwargs: Any) -> str:
        nonlocal posted
        posted += 1
        if posted > KILLED_AFTER:
            raise SystemExit("the worker was killed")
        return original(self, body, **kwargs)

    patch = mocker.patch.object(VoucherifyHook, "import_serialized", post)
    with pytest.raises(SystemExit):
        run(operator, task_state_store=store)
    mocker.stop(patch)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_a_retry_after_a_killed_try_reads_on_from_the_last_recorded_batch(
    server: EmulatorServer,
    tmp_path: Path,
    mocker: MockerFixture,
    capfd: pytest.CaptureFixture[str],
    gz: bool,
) -> None:
    path = write_jsonl(tmp_path / "orders.jsonl", _lines(), gz=gz)
    rejects = tmp_path / "rejects.jsonl"
    store = DictStore()
    _killed_try(mocker, _operator(path, rejects), store)
    recorded = store.data["voucherify_import/batch/3"]
    assert recorded["count"] == BATCH
    assert recorded["ends"]["batch"] == KILLED_AFTER
    checked = mocker.spy(_validation, "checked_order")

    ids, summary = run(_operator(path, rejects), task_state_store=store)

    invalid = sum(1 for line in _lines() if isinstance(line, str))
    assert summary == {
        "read": ORDERS + invalid,
        "valid": ORDERS,
        "invalid": invalid,
        "sent": ORDERS - KILLED_AFTER * BATCH,
        "skipped_on_retry": KILLED_AFTER * BATCH,
        "batches": ORDERS // BATCH,
    }
    # Only the records after batch 3 were read (validated) again.
    assert checked.call_count == summary["read"] - recorded["ends"]["read"]
    assert f"reading on at line {recorded['ends']['line']} (batch 4)" in "".join(capfd.readouterr())
    stats = stored(server, ids)
    assert stats["orders_received"] == stats["distinct_source_ids_received"] == ORDERS
    assert (stats["orders_stored"], stats["duplicate_payloads"]) == (ORDERS, 0)
    # Each invalid record listed once, in line order, though the file was continued.
    lines = [json.loads(entry)["line"] for entry in rejects.read_text().splitlines()]
    assert lines == sorted(set(lines))
    assert len(lines) == invalid


def test_a_retry_reads_a_changed_file_from_its_start(
    server: EmulatorServer, tmp_path: Path, mocker: MockerFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(tmp_path / "orders.jsonl", _lines())
    rejects = tmp_path / "rejects.jsonl"
    store = DictStore()
    _killed_try(mocker, _operator(path, rejects), store)
    changed = _lines()
    changed[0] = order_dict(0, amount=2600)  # batch 1 changes; batches 2 and 3 do not
    write_jsonl(path, changed)
    os.utime(path, ns=(1, 1))
    checked = mocker.spy(_validation, "checked_order")

    ids, summary = run(_operator(path, rejects), task_state_store=store)

    assert checked.call_count == summary["read"]  # every record read again
    assert "reading on at line" not in "".join(capfd.readouterr())
    assert (summary["sent"], summary["skipped_on_retry"]) == (ORDERS - 2 * BATCH, 2 * BATCH)
    stats = stored(server, ids)
    assert stats["orders_stored"] == stats["distinct_source_ids_received"] == ORDERS


def test_the_end_of_the_last_batch_is_the_end_of_the_file(tmp_path: Path) -> None:
    from airflow_provider_voucherify.importing.batching import batches
    from airflow_provider_voucherify.importing.continuation import Checkpoints
    from airflow_provider_voucherify.importing.validation import Counts, serialized_orders

    path = write_jsonl(tmp_path / "orders.jsonl", [order_dict(n) for n in range(7)] + ['{"bad": 1}', ""])
    with OrderSource(str(path)) as source:
        checkpoints = Checkpoints(source, Position())
        counts = Counts()
        valid = serialized_orders(checkpoints.records(), counts=counts, on_invalid="skip", max_invalid=1)
        ends = [checkpoints.following for _ in checkpoints.batches(batches(valid, batch_size=5), counts)]
    assert ends[-1] == Position(batch=2, line=9, offset=path.stat().st_size, read=8, valid=7, invalid=1)


def _entry(number: int, identity: SourceIdentity = IDENTITY, **changes: Any) -> dict[str, Any]:
    ends = Position(batch=number, line=number * 5 + 1, offset=number * 500, read=number * 5, valid=number * 5)
    return {"async_action_id": f"aa_{number}", **where(5, ends, identity), **changes}


def test_restart_after_the_run_of_entries_read_from_the_same_file() -> None:
    found = restart([_entry(1), _entry(2), _entry(3, SourceIdentity(size=99, head_sha256="ab"))], IDENTITY)

    assert found is not None
    assert found.batches == 2
    assert found.continuation.position.line == 11
    assert (found.continuation.action_ids, found.continuation.skipped) == (["aa_1", "aa_2"], 10)


@pytest.mark.parametrize(
    "run",
    [
        [],
        [{"async_action_id": "aa_1"}],  # recorded by an earlier version: no position
        [_entry(1, ends={"batch": 1, "line": 6, "offset": None})],
        [_entry(1, SourceIdentity(size=100, modified_ns=2, head_sha256="ab"))],
    ],
    ids=["nothing", "no position", "no offset", "another file"],
)
def test_without_a_usable_position_a_retry_reads_from_the_start(run: list[dict[str, Any]]) -> None:
    assert restart(run, IDENTITY) is None


def test_a_list_is_never_sought() -> None:
    assert restart([_entry(1, SourceIdentity(size=40))], SourceIdentity(size=40)) is None
