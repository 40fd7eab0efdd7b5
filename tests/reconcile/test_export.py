"""Every order compared through one export, against the emulator over real HTTP (the engine with
the hook's calls): altered and deleted orders named by field, their source lines written unchanged."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.reconcile.export import (
    ExportFailedError,
    compare_by_export,
    differing_fields,
    source_records,
)
from tests.airflow_helpers import point_connection

COUNT = 300


def order_line(number: int) -> bytes:
    order = {
        "source_id": f"ord-{number:04d}",
        "status": "PAID",
        "amount": 1000 + number,
        "discount_amount": 10.0,
        "items": [{"source_id": "sku-1", "related_object": "product", "quantity": 1, "price": 1000 + number}],
        "metadata": {"original_created_at": "2024-01-05T10:00:00Z", "channel": "web, app", "visits": number},
    }
    # Key order and spacing of a warehouse's own writer: the missing file must keep them as they are.
    return (json.dumps(order, indent=None, separators=(", ", ": ")) + "\n").encode()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "orders.jsonl"
    path.write_bytes(b"".join(order_line(number) for number in range(COUNT)))
    return path


def import_file(server: EmulatorServer, path: Path) -> None:
    lines = [json.loads(line) for line in path.read_bytes().splitlines()]
    with server.client() as client:
        ids = [
            client.post("/v1/orders/import", json=lines[start : start + 2000]).json()["async_action_id"]
            for start in range(0, len(lines), 2000)
        ]
    assert all(action["status"] == "DONE" for action in wait_for_actions(server, ids).values())


@pytest.fixture
def hook(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[VoucherifyHook]:
    point_connection(monkeypatch, emulator)
    hook = VoucherifyHook()
    yield hook
    hook.close()


def compare(hook: VoucherifyHook, path: Path, out: io.BytesIO | None = None) -> Any:
    with path.open("rb") as lines:
        return compare_by_export(hook, source_records(enumerate(lines, 1)), out, poll_interval=0.05)


@pytest.mark.parametrize("header", ["keys", "labels"])
def test_every_order_is_checked_and_the_altered_ones_are_named_and_written(
    emulator: EmulatorServer, hook: VoucherifyHook, source: Path, header: str
) -> None:
    import_file(emulator, source)
    clean = compare(hook, source)
    assert (clean.checked, clean.missing, clean.differing) == (COUNT, 0, 0)
    altered = emulator.set_faults(
        alter_orders={"share": 3 / COUNT, "fields": ["amount", "metadata_date", "deleted"]},
        seed=2,  # alters one order in each of the three ways
        export_header=header,
    )["altered_orders"]
    assert {entry["field"] for entry in altered} == {"amount", "metadata_date", "deleted"}
    out = io.BytesIO()
    found = compare(hook, source, out)
    expected_field = {
        "amount": "amount",
        "metadata_date": "metadata.original_created_at",
        "deleted": "(missing)",
    }
    assert sorted(found.problems) == sorted((e["source_id"], expected_field[e["field"]]) for e in altered)
    assert (found.checked, found.missing, found.differing) == (COUNT, 1, 2)
    wanted = {entry["source_id"] for entry in altered}
    original = [line + b"\n" for line in source.read_bytes().splitlines()]
    assert out.getvalue() == b"".join(line for line in original if json.loads(line)["source_id"] in wanted)
    assert emulator.stats()["requests"].get("GET /v1/orders/{id}") is None  # no per-order reads

    again = source.parent / "missing.jsonl"
    again.write_bytes(out.getvalue())
    emulator.clear_faults()
    import_file(emulator, again)
    after = compare(hook, source)
    assert (after.checked, after.missing, after.differing) == (COUNT, 0, 0)


@pytest.mark.parametrize("final_status", ["ERROR", "CANCELED"])
def test_an_export_that_does_not_end_done_fails_naming_it(
    emulator: EmulatorServer, hook: VoucherifyHook, source: Path, final_status: str
) -> None:
    emulator.set_faults(export_status=final_status)
    with pytest.raises(ExportFailedError, match=rf"Export exp_\w+ ended {final_status}, not DONE"):
        compare(hook, source)


@pytest.mark.parametrize(
    ("sent", "held", "fields"),
    [
        ({"status": "PAID", "amount": 1999.0}, {"status": "PAID", "amount": "1999"}, []),
        ({"amount": 19.99}, {"amount": "19"}, ["amount"]),
        ({"discount_amount": 5}, {"discount_amount": ""}, ["discount_amount"]),
        (
            {"metadata": {"n": 5, "ok": True, "at": "2024-01-05T10:00:00Z"}},
            {"metadata.n": "5", "metadata.ok": "true", "metadata.at": "2024-01-05T10:00:00.000Z"},
            [],
        ),
        ({"metadata": {"tags": ["a"], "none": None}}, {"metadata.tags": '["a"]', "metadata.none": ""}, []),
        ({"metadata": {"n": 5}}, {"metadata.n": "6"}, ["metadata.n"]),
        ({"status": "PAID"}, {"status": "CANCELED"}, ["status"]),
    ],
    ids=[
        "float-amount",
        "not-an-amount",
        "empty-amount",
        "typed-metadata",
        "json-and-null",
        "metadata",
        "status",
    ],
)
def test_fields_are_compared_by_the_type_the_order_sent(
    sent: dict[str, Any], held: dict[str, str], fields: list[str]
) -> None:
    assert differing_fields(sent, held) == fields
