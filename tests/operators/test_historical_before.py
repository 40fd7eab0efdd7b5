"""``historical_before``: the import is for historical orders only. An order created at or after it
is an invalid record whose reason says to sync it through the orders API; ``None`` turns the check
off; the reconciliation re-reads the orders with the very moment the import used."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.exceptions import InvalidOrderError
from airflow_provider_voucherify.importing.pipeline import ImportRules
from airflow_provider_voucherify.importing.validation import Counts
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.operators.reconcile_orders import ReconcileOrdersOperator
from tests.operators.conftest import order_dict
from tests.operators.test_import_orders import FakeTI, run

NOW = datetime.now(timezone.utc)
CUTOFF = datetime(2024, 9, 30, tzinfo=timezone.utc)


def records(*created: str) -> list[tuple[int, Any]]:
    return [(n, order_dict(n, created_at=text)) for n, text in enumerate(created, start=1)]


def test_an_order_created_at_or_after_the_cutoff_is_invalid_saying_to_sync_it_instead() -> None:
    rules = ImportRules(historical_before=CUTOFF, on_invalid="skip", max_invalid=10)
    refused: list[InvalidOrderError] = []

    class Keep:
        location = None

        def write(self, error: InvalidOrderError) -> None:
            refused.append(error)

    counts = Counts()
    made = list(
        rules.batches(
            records("2024-09-29 23:59:59.999 +0000", "2024-09-30 00:00:00 UTC", "2024-10-01T08:00:00+02:00"),
            counts=counts,
            rejects=Keep(),
        )
    )
    assert (counts.valid, counts.invalid, sum(batch.count for batch in made)) == (1, 2, 1)
    assert [error.line for error in refused] == [2, 3]
    ((path, reason),) = refused[0].errors
    assert path == ".created_at"
    assert reason.startswith("created at or after historical_before (2024-09-30T00:00:00.000Z)")
    assert "sync an order this recent through the orders API (POST /v1/orders) instead" in reason


def test_none_turns_the_check_off() -> None:
    counts = Counts()
    list(ImportRules(historical_before=None).batches(records(NOW.isoformat()), counts=counts))
    assert counts.valid == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(hours=24), NOW - timedelta(hours=24)),
        ("2024-09-30 00:00:00 +0000", CUTOFF),
        (CUTOFF, CUTOFF),
        (None, None),
        ("None", None),  # a template that rendered None
    ],
)
def test_the_cutoff_is_a_moment_a_text_or_a_time_before_the_task_starts(
    server: EmulatorServer, value: Any, expected: Any
) -> None:
    operator = ImportOrdersOperator(task_id="t", orders=[], historical_before=value)
    ti = FakeTI()
    ti.start_date = NOW  # type: ignore[attr-defined]
    operator.execute({"ti": ti})  # type: ignore[arg-type]
    assert operator.rules.historical_before == expected
    assert ti.xcom["historical_before"] == (
        expected.isoformat(timespec="milliseconds").replace("+00:00", "Z") if expected else None
    )


def test_by_default_an_order_of_the_last_24_hours_is_refused(server: EmulatorServer, tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    lines = [order_dict(1), order_dict(2, created_at=(NOW - timedelta(hours=1)).isoformat())]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    rejects = tmp_path / "rejects.jsonl"
    _, summary = run(
        ImportOrdersOperator(
            task_id="t", orders=str(path), on_invalid="skip", max_invalid=1, rejects_path=str(rejects)
        )
    )
    assert (summary["valid"], summary["invalid"], summary["sent"]) == (1, 1, 1)
    (entry,) = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert entry["line"] == 2
    assert "through the orders API (POST /v1/orders) instead" in entry["errors"][0]["reason"]


def test_the_reconciliation_of_an_import_uses_the_moment_the_import_used() -> None:
    from airflow.sdk import DAG

    with DAG("historical_before_reconcile", schedule=None, start_date=datetime(2024, 1, 1)):
        imported = ImportOrdersOperator(task_id="import_orders", orders="o.jsonl")
        reconcile = ReconcileOrdersOperator.of_import(imported, task_id="reconcile")
    assert reconcile.historical_before == (
        "{{ ti.xcom_pull(task_ids='import_orders', key='historical_before') }}"
    )
    assert "historical_before" in reconcile.template_fields
