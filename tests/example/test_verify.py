"""Verification: uniform sampling, field-by-field comparison, a readable table, and the counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.example.verify import (
    Difference,
    Expected,
    VerificationError,
    check_import,
    rejected_source_ids,
    render_table,
    sample_expected,
)
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook


def row(source_id: str, **fields: object) -> dict[str, object]:
    return {
        "order_source_id": source_id,
        "order_status": "PAID",
        "order_amount": "20.00",
        "item_count": 1,
        "customer_source_id": "CUST-1",
        **fields,
    }


def test_the_sample_skips_rejects_and_holds_at_most_its_size() -> None:
    rows = [row(f"O-{n}") for n in range(500)]

    total, sample = sample_expected(rows, 10, exclude={"O-1", "O-2"}, seed="run-1")

    assert total == 500
    assert len(sample) == 10
    assert {"O-1", "O-2"}.isdisjoint(expected.source_id for expected in sample)
    assert sample == sample_expected(rows, 10, exclude={"O-1", "O-2"}, seed="run-1")[1]


def test_the_table_of_differences_lines_up() -> None:
    table = render_table(
        [Difference("O-1", "amount", 2000, 1999), Difference("O-22", "status", "PAID", "CREATED")]
    )

    assert table.splitlines() == [
        "source_id | field  | warehouse | voucherify",
        "----------+--------+-----------+-----------",
        "O-1       | amount | 2000      | 1999",
        "O-22      | status | PAID      | CREATED",
    ]


def test_rejected_source_ids_are_read_from_the_rejects_file(tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    rejects.write_text(
        json.dumps({"line": 3, "source_id": "O-3", "errors": []})
        + "\n"
        + json.dumps({"line": 9, "source_id": None, "errors": []})
        + "\n"
    )

    assert rejected_source_ids(rejects) == {"O-3"}
    assert rejected_source_ids(tmp_path / "absent.jsonl") == set()


@pytest.fixture
def imported(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> VoucherifyHook:
    """Two orders of customer CUST-1 imported into the emulator (20.00 each, one item, PAID)."""
    monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", emulator.conn_json)
    hook = VoucherifyHook()
    orders = [
        {
            "source_id": source_id,
            "status": "PAID",
            "amount": 2000,
            "customer": {"source_id": "CUST-1"},
            "items": [{"source_id": "P-1", "related_object": "product", "quantity": 1, "price": 2000}],
        }
        for source_id in ("O-1", "O-2")
    ]
    wait_for_actions(emulator, [hook.import_orders(orders)])
    return hook


def test_an_import_matching_the_warehouse_passes(imported: VoucherifyHook) -> None:
    report = check_import(
        imported,
        [row("O-1"), row("O-2"), row("BAD")],
        imported=2,
        rejected=1,
        rejected_source_ids={"BAD"},
        sample_size=5,
    )

    assert report.as_dict() == {"extracted": 3, "rejected": 1, "imported": 2, "sampled": 2, "matched": 2}


def test_a_difference_fails_with_a_table_naming_order_and_field(imported: VoucherifyHook) -> None:
    warehouse = [row("O-1", order_amount="25.00"), row("O-2", customer_source_id="CUST-9")]

    with pytest.raises(VerificationError) as failure:
        check_import(imported, warehouse, imported=2, rejected=0, rejected_source_ids=(), sample_size=5)

    message = str(failure.value)
    assert message.startswith("2 of 2 sampled orders differ from the warehouse:")
    assert "O-1       | amount             | 2500      | 2000" in message
    assert "O-2       | customer_source_id | CUST-9    | CUST-1" in message


def test_an_order_missing_from_voucherify_is_a_difference(imported: VoucherifyHook) -> None:
    with pytest.raises(VerificationError, match=r"O-404 +\| order +\| present +\| \(missing\)"):
        check_import(imported, [row("O-404")], imported=1, rejected=0, rejected_source_ids=(), sample_size=1)


def test_counts_that_do_not_add_up_fail_before_sampling(imported: VoucherifyHook) -> None:
    with pytest.raises(VerificationError, match=r"imported 2 orders, but the warehouse has 3 .* expected 3"):
        check_import(
            imported,
            [row("O-1"), row("O-2"), row("O-3")],
            imported=2,
            rejected=0,
            rejected_source_ids=(),
            sample_size=1,
        )


def test_expected_figures_come_from_the_warehouse_row() -> None:
    assert Expected.from_row(row("O-1", item_count=3)) == Expected("O-1", "PAID", 2000, 3, "CUST-1")
