"""Every order compared through one export, against the emulator over real HTTP (the engine with
the hook's calls): altered and deleted orders named by field, their source lines written unchanged."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.importing.pipeline import ImportRules
from airflow_provider_voucherify.models import AsyncAction
from airflow_provider_voucherify.reconcile.export import (
    ExportFailedError,
    compare_by_export,
    differing_fields,
    scope_filters,
    source_records,
)
from airflow_provider_voucherify.reconcile.export_index import SentLines, SourceIndex
from airflow_provider_voucherify.reconcile.sample import draw_sample
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


@pytest.mark.parametrize(
    ("sent", "held", "parties", "fields"),
    [
        ({"customer": {"source_id": "c-1"}}, {"customer_id": "cust_1"}, {"customer": "c-1"}, []),
        (
            {"customer": {"source_id": "c-1"}},
            {"customer_id": "cust_2"},
            {"customer": "c-2"},
            ["customer.source_id"],
        ),
        ({"customer": {"source_id": "c-1"}}, {"customer_id": ""}, {"customer": None}, ["customer"]),
        ({"customer": {"id": "cust_1"}}, {"customer_id": "cust_2"}, {"customer": "c-2"}, ["customer.id"]),
        ({"referrer_id": "cust_1"}, {"referrer_id": "cust_1"}, {"referrer": None}, []),
        ({"referrer_id": "cust_1"}, {"referrer_id": ""}, {"referrer": None}, ["referrer_id"]),
        ({"customer": {"source_id": "c-1"}}, {"customer_id": "cust_2"}, None, []),  # ids only
    ],
    ids=["same", "another-customer", "none", "by-id", "referrer-id", "referrer-gone", "no-customers-export"],
)
def test_customers_are_compared_through_the_customers_export(
    sent: dict[str, Any], held: dict[str, str], parties: dict[str, str | None] | None, fields: list[str]
) -> None:
    assert differing_fields(sent, held, parties) == fields


def test_the_scope_is_what_the_imports_created_or_updated_since_the_first_began() -> None:
    actions = [
        AsyncAction(id="aa_2", status="DONE", created_at="2024-05-01T10:00:05.250Z"),
        AsyncAction(id="aa_1", status="DONE", created_at="2024-05-01T10:00:00Z"),
        AsyncAction(id="aa_3", status="DONE"),
    ]

    assert scope_filters(actions) == {
        "created_at": {"conditions": {"$after": ["2024-05-01T09:59:59.000Z"]}},
        "updated_at": {"conditions": {"$after": ["2024-05-01T09:59:59.000Z"]}},
        "junction": "or",
    }
    assert scope_filters(actions[2:]) is None


def test_the_sent_index_holds_what_the_import_sent_with_the_line_as_it_was(tmp_path: Path) -> None:
    first = b'{"source_id": "a", "amount": 5, "created_at": "2021-01-01", "customer": {"source_id": "c"}}\n'
    lines = [
        first,
        b'{"source_id": "b", "amount": -1}\n',  # invalid: never sent, never compared
        b'{"source_id": "a", "amount": 6, "metadata": {"k": 1}}\n',  # the same order again: the latest counts
    ]
    with closing(SourceIndex(tmp_path)) as index:
        feed = SentLines(index)
        records = feed.records(enumerate(lines, 1))
        counts, _ = draw_sample(records, size=0, rules=ImportRules(batch_size=1), on_sent=feed.on_sent)
        rows = [(joined.source_id, joined.sent, joined.line) for joined in index.joined()]

    assert (counts.valid, counts.invalid) == (2, 1)
    assert rows == [("a", {"amount": 6, "metadata": {"k": 1}}, lines[2])]
    assert index.metadata_keys == {"k", "original_created_at"}
    assert index.parties
