"""ReconcileOrdersOperator(method="export") against the emulator: every order compared, few calls.

3,000 orders are imported (two imports of 2,000 and 1,000), then reconciled through one orders
export and one customers export: every order is checked, the altered ones are named by field and
their source lines written unchanged to ``missing_orders_path``, which imports as it is.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_voucherify.emulator.testing import EmulatorServer, free_port
from airflow_provider_voucherify.operators.reconcile_orders import (
    AirflowFailException,
    ReconcileOrdersOperator,
)
from airflow_provider_voucherify.triggers.export import ExportTrigger
from tests.airflow_helpers import point_connection, run_test_dag, xcoms
from tests.operators.conftest import assert_no_personal_data, order_dict, write_jsonl
from tests.operators.test_reconcile_orders import imported, logged, many_orders

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow < 3.2
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

COUNT = 3000
ALTERATIONS = ["amount", "metadata_date", "customer", "deleted"]
# The field each alteration shows up as.
NAMED_AS = {
    "amount": "amount",
    "metadata_date": "metadata.original_created_at",
    "customer": "customer.source_id",
    "deleted": "(missing)",
}


class FakeTI:
    """Takes the XCom a deferring task keeps its state in; the operator pushes nothing else."""

    task_id, map_index = "reconcile", -1

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        assert key == "deferral_state"
        self.xcom[key] = value

    def xcom_pull(self, *, task_ids: str, key: str, map_indexes: int) -> Any:
        return self.xcom.get(key)


@pytest.fixture
def server(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    point_connection(monkeypatch, emulator)
    return emulator


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator's exports take a fraction of a second: poll them often."""
    monkeypatch.setattr(ReconcileOrdersOperator, "export_poll_interval", 0.05)


def operator(path: Path, ids: Any, **options: Any) -> ReconcileOrdersOperator:
    return ReconcileOrdersOperator(
        task_id="reconcile", orders=str(path), async_action_ids=ids, method="export", **options
    )


def reconcile(path: Path, ids: Any, **options: Any) -> dict[str, Any]:
    return dict(operator(path, ids, **options).execute({"ti": FakeTI()}))  # type: ignore[arg-type]


def calls_since(server: EmulatorServer, before: dict[str, dict[str, int]]) -> dict[str, int]:
    """API calls per route since ``before`` (a ``stats()["requests"]``)."""
    now = server.stats()["requests"]
    spent = {
        route: sum(counts.values()) - sum(before.get(route, {}).values()) for route, counts in now.items()
    }
    return {route: n for route, n in spent.items() if n}


def seed_altering_each_once(count: int) -> int:
    """A seed with which the emulator's alteration (emulator/alterations.py: ``rng.sample`` of the
    stored orders, then one ``rng.choice`` of the fields each) picks each alteration once."""
    for seed in range(1000):
        rng = random.Random(seed)
        rng.sample(range(count), len(ALTERATIONS))
        if sorted(rng.choice(ALTERATIONS) for _ in ALTERATIONS) == sorted(ALTERATIONS):
            return seed
    raise AssertionError("no seed alters each field once")


@pytest.fixture
def three_thousand(server: EmulatorServer, tmp_path: Path) -> tuple[Path, list[str]]:
    path = many_orders(tmp_path, COUNT)
    return path, imported(server, path)


def test_every_order_is_checked_for_a_handful_of_calls_and_no_order_read(
    server: EmulatorServer, three_thousand: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, ids = three_thousand
    before = server.stats()["requests"]

    summary = reconcile(path, ids, sample_size=0, missing_orders_path=str(tmp_path / "missing.jsonl"))

    assert (summary["checked"], summary["missing"], summary["differing"]) == (COUNT, 0, 0)
    assert summary["sent"] == summary["done"] == COUNT
    assert summary["order_reads"] == summary["sampled"] == 0
    calls = calls_since(server, before)
    assert "GET /v1/orders/{id}" not in calls
    assert calls["POST /v1/exports"] == 2  # the orders, and the customers their source ids map to
    assert calls["GET /v1/async-actions/{id}"] == len(ids) == 2
    assert calls["GET /v1/metadata-schemas/{resource}"] == 1  # the import's preflight, done again
    polls = calls.pop("GET /v1/exports/{id}")
    assert sum(calls.values()) == 5
    assert 2 <= polls <= 12  # how many depends on how long the emulator takes (the gap doubles)
    assert (tmp_path / "missing.jsonl").read_bytes() == b""


@pytest.mark.parametrize("header", ["keys", "labels"])
def test_altered_and_deleted_orders_are_named_by_field_and_their_lines_written_for_reimport(
    server: EmulatorServer,
    three_thousand: tuple[Path, list[str]],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    header: str,
) -> None:
    path, ids = three_thousand
    missing = tmp_path / "missing.jsonl"
    altered = server.set_faults(
        alter_orders={"share": len(ALTERATIONS) / COUNT, "fields": ALTERATIONS},
        seed=seed_altering_each_once(COUNT),
        export_header=header,
    )["altered_orders"]
    assert sorted(entry["field"] for entry in altered) == sorted(ALTERATIONS)

    with pytest.raises(AirflowFailException) as failure:
        reconcile(path, ids, sample_size=0, missing_orders_path=str(missing))

    message = str(failure.value)
    for entry in altered:
        assert f"{entry['source_id']}\t{NAMED_AS[entry['field']]}" in message
    assert "1 of 3000 orders are missing in Voucherify and 3 differ" in message
    assert_no_personal_data(message, logged(capfd))
    wanted = {entry["source_id"] for entry in altered}
    source_lines = path.read_bytes().splitlines(keepends=True)
    assert missing.read_bytes() == b"".join(
        line for line in source_lines if json.loads(line)["source_id"] in wanted
    )

    again = imported(server, missing)  # the file imports as it is
    summary = reconcile(path, ids, sample_size=0)
    assert len(again) == 1
    assert (summary["checked"], summary["missing"], summary["differing"]) == (COUNT, 0, 0)


@pytest.mark.parametrize("final_status", ["ERROR", "EXPIRED"])
def test_an_export_that_ends_otherwise_than_done_fails_naming_its_status(
    server: EmulatorServer, tmp_path: Path, final_status: str
) -> None:
    path = many_orders(tmp_path, 20)
    ids = imported(server, path)
    server.set_faults(export_status=final_status)

    with pytest.raises(AirflowFailException, match=rf"Export exp_\w+ ended {final_status}, not DONE"):
        reconcile(path, ids, sample_size=0, missing_orders_path=str(tmp_path / "missing.jsonl"))


def test_the_sample_still_reads_item_fields_back(server: EmulatorServer, tmp_path: Path) -> None:
    path = many_orders(tmp_path, 40)
    ids = imported(server, path)
    server.set_faults(alter_orders={"share": 0.05, "fields": ["item_quantity"]}, seed=1)
    before = server.stats()["requests"]

    with pytest.raises(AirflowFailException, match=r"sampled orders differ") as failure:
        reconcile(path, ids, sample_size=40)

    assert "items[0].quantity" in str(failure.value)
    assert "0 of 40 orders are missing" not in str(failure.value)  # no export field differs
    assert calls_since(server, before)["GET /v1/orders/{id}"] == 40


def test_an_audit_finds_an_order_never_imported(server: EmulatorServer, tmp_path: Path) -> None:
    imported_part = write_jsonl(tmp_path / "part.jsonl", (order_dict(n) for n in range(50)))
    imported(server, imported_part)
    whole = write_jsonl(tmp_path / "whole.jsonl", (order_dict(n) for n in range(51)))
    before = server.stats()["requests"]

    with pytest.raises(AirflowFailException, match=r"1 of 51 orders are missing") as failure:
        reconcile(whole, None, sample_size=0, missing_orders_path=str(tmp_path / "missing.jsonl"))

    assert "ord-0000050\t(missing)" in str(failure.value)
    assert (tmp_path / "missing.jsonl").read_bytes() == whole.read_bytes().splitlines(keepends=True)[-1]
    calls = calls_since(server, before)
    assert "GET /v1/async-actions/{id}" not in calls  # an audit checks no counts
    assert calls["POST /v1/exports"] == 2


def test_an_audit_needs_the_export_method() -> None:
    with pytest.raises(ValueError, match="only with method"):
        ReconcileOrdersOperator(task_id="reconcile", orders="orders.jsonl", async_action_ids=None)
    with pytest.raises(ValueError, match="method must be one of"):
        ReconcileOrdersOperator(task_id="reconcile", orders="orders.jsonl", method="everything")


# -- downloads from another host -------------------------------------------------------------------


@pytest.fixture
def download_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """Downloads served by a second port under the host name ``localhost`` (the API is 127.0.0.1)."""
    with EmulatorServer(tmp_path / "emulator", orders_per_second=0, download_port=free_port()) as server:
        point_connection(monkeypatch, server)
        yield server


def test_a_download_from_another_host_works_without_the_app_token(
    download_host: EmulatorServer, tmp_path: Path
) -> None:
    path = many_orders(tmp_path, 30)
    ids = imported(download_host, path)

    summary = reconcile(path, ids, sample_size=0)

    assert (summary["checked"], summary["missing"], summary["differing"]) == (30, 0, 0)
    downloads = download_host.stats()["downloads"]
    assert downloads["by_host"] == {"localhost": 2}
    assert downloads["with_app_token"] == downloads["refused"] == 0


# -- deferred: the wait in the triggerer ------------------------------------------------------------


def drive_with_trigger(op: ReconcileOrdersOperator, ti: FakeTI, *, drop_kwargs: bool) -> tuple[Any, Any]:
    """Run ``op`` to the end, running the export trigger it defers to as the triggerer would."""
    context: Any = {"ti": ti}
    try:
        op.execute(context)
    except TaskDeferred as deferred:
        trigger = deferred.trigger
        assert isinstance(trigger, ExportTrigger)
        rebuilt = ExportTrigger(**json.loads(json.dumps(trigger.serialize()[1])))

        async def first_event() -> Any:
            async for event in rebuilt.run():
                return event.payload
            raise AssertionError("no event")

        payload = asyncio.run(first_event())
        method = getattr(op, deferred.method_name)
        kwargs = {} if drop_kwargs else deferred.kwargs or {}
        return deferred, method(context, event=payload, **kwargs)
    raise AssertionError("the task did not defer")


@pytest.mark.parametrize("drop_kwargs", [False, True], ids=["kwargs", "as-dag-test"])
def test_deferrable_waits_for_the_export_in_the_triggerer_and_resumes(
    server: EmulatorServer, tmp_path: Path, drop_kwargs: bool
) -> None:
    path = many_orders(tmp_path, 200)
    ids = imported(server, path, batch_size=100)
    server.set_faults(alter_orders={"share": 0.01, "fields": ["deleted"]}, seed=3)
    ti = FakeTI()

    with pytest.raises(AirflowFailException, match=r"2 of 200 orders are missing"):
        drive_with_trigger(
            operator(
                path, ids, sample_size=5, deferrable=True, missing_orders_path=str(tmp_path / "m.jsonl")
            ),
            ti,
            drop_kwargs=drop_kwargs,
        )

    state = ti.xcom["deferral_state"]["state"]
    assert set(state["exports"]) == {"order", "customer"}
    assert len(state["drawn"]["sample_ids"]) == 5
    assert_no_personal_data(json.dumps(state))
    assert len((tmp_path / "m.jsonl").read_bytes().splitlines()) == 2


def test_an_export_reconciliation_defers_and_resumes_under_dag_test(
    airflow_db: Path, server: EmulatorServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = many_orders(tmp_path, 60)
    ids = imported(server, path, batch_size=25)
    with DAG(
        "voucherify_reconcile_export_test", schedule=None, start_date=datetime(2024, 1, 1), catchup=False
    ) as dag:
        operator(
            path, ids, sample_size=3, deferrable=True, missing_orders_path=str(tmp_path / "{{ ds }}.jsonl")
        )

    dag_run = run_test_dag(dag)

    assert dag_run.state == "success"
    assert "The exports ended: success" in logged(capfd)  # resumed after the trigger's event
    summary = xcoms(dag_run, "reconcile")["return_value"]
    assert (summary["checked"], summary["missing"], summary["differing"]) == (60, 0, 0)
    assert (summary["sampled"], summary["matched"]) == (3, 3)
    assert len(list(tmp_path.glob("*-*-*.jsonl"))) == 1


def test_orders_voucherify_refused_are_listed_as_failed_not_compared(
    server: EmulatorServer, tmp_path: Path
) -> None:
    orders = [order_dict(n) for n in range(30)]
    refused = {f"ord-{n:07d}" for n in (3, 17)}
    for order in orders:
        if order["source_id"] in refused:
            order["customer"] = {"id": "cust_does_not_exist"}
    path = write_jsonl(tmp_path / "orders.jsonl", orders)
    ids = imported(server, path, batch_size=10)

    summary = reconcile(path, ids, sample_size=0, failed_orders_path=str(tmp_path / "failed.jsonl"))

    assert (summary["done"], summary["failed"], summary["checked"], summary["missing"]) == (28, 2, 28, 0)
    failed = {json.loads(line)["source_id"] for line in (tmp_path / "failed.jsonl").read_text().splitlines()}
    assert failed == refused


def test_the_missing_orders_file_may_be_an_object_store_uri(
    server: EmulatorServer, tmp_path: Path, memory_storage: str
) -> None:
    import fsspec

    path = many_orders(tmp_path, 20)
    ids = imported(server, path)
    server.set_faults(alter_orders={"share": 0.05, "fields": ["deleted"]}, seed=1)
    uri = f"{memory_storage}/audit/missing.jsonl"

    with pytest.raises(AirflowFailException, match=r"1 of 20 orders are missing"):
        reconcile(path, ids, sample_size=0, missing_orders_path=uri)

    written = fsspec.filesystem("memory").cat_file("/bucket/audit/missing.jsonl")
    assert len(written.splitlines()) == 1
    assert written in path.read_bytes()
