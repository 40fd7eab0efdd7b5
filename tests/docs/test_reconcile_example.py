"""The reconciliation page's examples run as written (docs/reconciliation.md includes them)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.reconcile.compare import Difference
from airflow_provider_voucherify.reconcile.report import render_table
from tests.airflow_helpers import point_connection, register_dag, xcoms

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"


def test_the_example_dag_imports_then_reconciles(
    airflow_db: Path, emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_connection(monkeypatch, emulator)
    orders = tmp_path / "orders.jsonl"
    orders.write_text((EXAMPLES / "orders.jsonl").read_text())
    dag = runpy.run_path(str(EXAMPLES / "voucherify_reconcile.py"))["reconcile"].dag
    reconcile = dag.get_task("reconcile")
    assert (reconcile.deferrable, reconcile.compare_customers) == (True, False)
    register_dag(dag)

    run = dag.test(run_conf={"orders": str(orders), "failed_orders": str(tmp_path / "failed.jsonl")})

    assert run.state == "success"
    summary: dict[str, Any] = xcoms(run, "reconcile")["return_value"]
    assert (summary["sent"], summary["done"], summary["sampled"], summary["matched"]) == (2, 2, 2, 2)
    assert (summary["order_reads"], summary["customer_reads"]) == (2, 0)
    # The page shows this run's summary; only the seed (the run id) changes from run to run.
    shown = json.loads((EXAMPLES / "reconcile_summary.json").read_text())
    assert {**summary, "seed": None} == {**shown, "seed": None}
    assert (tmp_path / "failed.jsonl").read_text() == ""


def test_the_table_on_the_page_is_what_the_operator_renders() -> None:
    # The rows one of each kind of difference makes (see tests/operators/test_reconcile_orders.py).
    rows = [
        Difference("ord-0000154", "order", "present", "(missing)"),
        Difference("ord-0000016", "items[0].quantity", "1", "2"),
        Difference(
            "ord-0000139",
            "metadata.original_created_at",
            "2021-03-04T05:06:07+00:00",
            "2021-03-05T05:06:07.000Z",
        ),
        Difference("ord-0000004", "customer.email", "(not shown)", "differs"),
        Difference(
            "ord-0000077", "customer", "the same customer as ord-0000012's", "cust_0b1f, not cust_09aa"
        ),
    ]
    assert (EXAMPLES / "reconcile_table.txt").read_text() == render_table(rows) + "\n"
