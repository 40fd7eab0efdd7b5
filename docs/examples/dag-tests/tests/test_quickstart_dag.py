"""A user's test of a whole DAG file against the emulator (docs/emulator.md includes it)."""

# --8<-- [start:dag-test]
import json
import runpy
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer

DAGS = Path(__file__).resolve().parents[1] / "dags"


def test_the_quickstart_dag_imports_a_file(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", emulator.conn_json)
    order = {
        "source_id": "ORD-1",
        "status": "PAID",
        "amount": 1000,
        "items": [{"source_id": "prod-1", "related_object": "product", "quantity": 1, "price": 1000}],
    }
    orders = tmp_path / "orders.jsonl"
    orders.write_text(json.dumps(order) + "\n")

    dag = runpy.run_path(str(DAGS / "voucherify_quickstart.py"))["dag"]  # the DAG file's `dag`
    run = dag.test(run_conf={"orders": str(orders)})  # every task, the deferred wait included

    assert run.state == "success"
    assert emulator.stats()["orders_stored"] == 1


# --8<-- [end:dag-test]
