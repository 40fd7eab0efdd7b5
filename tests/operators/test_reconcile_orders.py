"""ReconcileOrdersOperator against the emulator over real HTTP, and through ``dag.test()``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.importing.source import OrderSource
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.operators.reconcile_orders import (
    AirflowException,
    AirflowFailException,
    ReconcileOrdersOperator,
)
from airflow_provider_voucherify.reconcile.check import CachedReader, check_sample
from airflow_provider_voucherify.reconcile.sample import draw_sample
from tests.airflow_helpers import point_connection, run_test_dag, xcoms
from tests.operators.conftest import assert_no_personal_data, order_dict, write_jsonl

ALTERED_FIELDS = ["amount", "item_quantity", "metadata_date"]


class FakeTI:
    def xcom_push(self, key: str, value: Any) -> None:
        raise AssertionError("the operator pushes nothing but its return value")


@pytest.fixture
def server(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    point_connection(monkeypatch, emulator)
    return emulator


def imported(server: EmulatorServer, path: Path, **options: Any) -> list[str]:
    """Import ``path`` with ImportOrdersOperator and wait until Voucherify finished."""

    class TI:
        def xcom_push(self, key: str, value: Any) -> None:
            pass

    ids = ImportOrdersOperator(task_id="import_orders", orders=str(path), **options).execute({"ti": TI()})  # type: ignore[arg-type]
    wait_for_actions(server, ids)
    return list(ids)


def reconcile(path: Path | list[Any], ids: Any, **options: Any) -> dict[str, Any]:
    operator = ReconcileOrdersOperator(
        task_id="reconcile",
        orders=path if isinstance(path, list) else str(path),
        async_action_ids=ids,
        **options,
    )
    return dict(operator.execute({"ti": FakeTI()}))  # type: ignore[arg-type]


def logged(capfd: pytest.CaptureFixture[str]) -> str:
    """What the task logged (Airflow's task logger writes to the process's stdout/stderr)."""
    out, err = capfd.readouterr()
    return out + err


def varied_order(n: int) -> dict[str, Any]:
    """An order of ``order_dict`` with its amount, item and metadata varying with ``n``."""
    amount = 2500 * (1 + n % 3)
    item = {"source_id": f"sku-{n % 7}", "related_object": "sku", "quantity": 1 + n % 3, "price": 2500}
    return order_dict(
        n, metadata={"channel": ("web", "store")[n % 2]}, amount=amount, items=[{**item, "amount": amount}]
    )


def many_orders(tmp_path: Path, count: int) -> Path:
    return write_jsonl(tmp_path / "orders.jsonl", (varied_order(n) for n in range(count)))


# -- a clean import ----------------------------------------------------------------------------


def test_a_clean_import_reconciles_every_sampled_order(server: EmulatorServer, tmp_path: Path) -> None:
    path = many_orders(tmp_path, 300)
    ids = imported(server, path, batch_size=100)
    before = server.stats()["requests"]

    summary = reconcile(path, [ids], sample_size=40, failed_orders_path=str(tmp_path / "failed.jsonl"))

    assert summary["sent"] == summary["done"] == 300
    assert summary["failed"] == summary["invalid"] == summary["mismatches"] == 0
    assert summary["sampled"] == summary["matched"] == 40
    assert summary["detectable_corruption_rate"] == pytest.approx(0.0722, abs=1e-4)
    assert (tmp_path / "failed.jsonl").read_text() == ""
    requests = server.stats()["requests"]
    reads = {route: sum(requests[route].values()) - sum(before.get(route, {}).values()) for route in requests}
    assert reads["GET /v1/async-actions/{id}"] == 3
    assert reads["GET /v1/orders/{id}"] == 40 == summary["order_reads"]
    assert reads.get("GET /v1/customers/{id}", 0) == summary["customer_reads"] <= 40


def test_a_small_import_is_compared_whole(server: EmulatorServer, tmp_path: Path) -> None:
    path = many_orders(tmp_path, 12)
    summary = reconcile(path, imported(server, path), sample_size=100)

    assert summary["sampled"] == summary["matched"] == 12
    assert summary["detectable_corruption_rate"] == 0.0


def test_invalid_records_are_reported_not_missing(
    server: EmulatorServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(
        tmp_path / "orders.jsonl", [order_dict(1), order_dict(2, amount=-5), "{not json", order_dict(4)]
    )
    ids = imported(server, path, on_invalid="skip", max_invalid=5)

    summary = reconcile(path, ids, sample_size=10)

    assert (summary["sent"], summary["invalid"], summary["sampled"], summary["matched"]) == (2, 2, 2, 2)
    text = logged(capfd)
    assert "2 records the import rejects" in text
    assert "line 2 (ord-0000002)" in text


@pytest.mark.parametrize("batch_size", [4, 2000])
def test_what_the_import_refused_is_never_counted_as_sent(
    server: EmulatorServer, tmp_path: Path, batch_size: int
) -> None:
    # Every kind of reject the import makes: the model (a negative amount), the project's metadata
    # schema (a required key missing), and a source_id repeated within one batch, which depends on
    # where the batches were cut: with 2000 per batch, lines 6 and 9 repeat lines 5 and 2 in the
    # one batch and are refused; with 4, they fall in the second batch and are sent (updates).
    required = {"region": {"type": "string", "array": False, "optional": False}}
    dated = {"original_created_at": {"type": "datetime", "array": False, "optional": True}}
    server.set_metadata_schemas({"order": {"properties": {**required, **dated}}})
    region = {"region": "eu"}
    records = [
        order_dict(n, metadata=None if n == 3 else region, amount=-5 if n == 7 else 2500) for n in range(1, 9)
    ]
    records[5] = order_dict(5, metadata={"region": "us"})  # line 6 repeats line 5
    records.append(order_dict(2, metadata={"region": "us"}))  # line 9 repeats line 2
    path = write_jsonl(tmp_path / "orders.jsonl", records)
    settings = {"batch_size": batch_size}
    ids = imported(server, path, on_invalid="skip", max_invalid=10, **settings)
    sent = server.stats()["orders_received"]

    summary = reconcile(path, ids, sample_size=100, **settings)

    assert (summary["sent"], summary["invalid"]) == (sent, 9 - sent)
    assert summary["sent"] == summary["done"] + summary["failed"]
    assert summary["sampled"] == summary["matched"]  # the stored version of each was the one sent
    assert sent == (7 if batch_size == 4 else 5)


def test_an_import_whose_orders_were_all_rejected_reconciles(server: EmulatorServer, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "orders.jsonl", [order_dict(1, amount=-5)])

    summary = reconcile(path, [], sample_size=10)

    assert (summary["sent"], summary["done"], summary["invalid"], summary["sampled"]) == (0, 0, 1, 0)
    assert summary["detectable_corruption_rate"] == 1.0


def test_a_list_of_orders_and_a_rate_to_detect(server: EmulatorServer) -> None:
    orders = [order_dict(n) for n in range(150)]
    hook = VoucherifyHook()
    ids = [hook.import_orders(orders)]
    wait_for_actions(server, ids)

    summary = reconcile(orders, ids[0], detect_corruption_rate=0.03, compare_customers=False)

    assert summary["sampled"] == summary["matched"] == 99
    assert summary["customer_reads"] == 0
    assert summary["detectable_corruption_rate"] <= 0.03


# -- corruption, missing orders, counts ---------------------------------------------------------


def test_altered_orders_fail_the_task_with_their_source_ids(server: EmulatorServer, tmp_path: Path) -> None:
    path = many_orders(tmp_path, 1000)
    ids = imported(server, path)
    altered = server.set_faults(alter_orders={"share": 0.05, "fields": ALTERED_FIELDS}, seed=15)[
        "altered_orders"
    ]
    assert len(altered) == 50
    assert {a["field"] for a in altered} == set(ALTERED_FIELDS)
    wrong = {a["source_id"]: a["field"] for a in altered}

    with pytest.raises(AirflowFailException) as failure:
        reconcile(path, ids, sample_size=100, seed=0)

    table = str(failure.value).split("\n")[1:]
    rows = [line.split(" | ") for line in table[2:]]
    assert rows, str(failure.value)
    for source_id, field, *_ in (map(str.strip, row) for row in rows):
        assert source_id in wrong
        expected = {"amount": "amount", "item_quantity": "items[0].quantity"}.get(wrong[source_id])
        assert field == (expected or "metadata.original_created_at")


@pytest.mark.exhaustive  # 100 trials: the sampling's statistics, which no version changes
def test_five_percent_altered_is_caught_by_a_sample_of_100_in_99_of_100_runs(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """The detection figure made real: one import, 100 samples drawn with seeds 0..99 in-process.

    Each stored order is read once (a cache), so the 100 runs cost one read per distinct order.
    """
    path = many_orders(tmp_path, 1000)
    ids = imported(server, path)
    altered = server.set_faults(alter_orders={"share": 0.05, "fields": ALTERED_FIELDS}, seed=2)[
        "altered_orders"
    ]
    wrong = {a["source_id"] for a in altered}
    hook = VoucherifyHook()
    stored = CachedReader(lambda key: hook.get_order(key))

    caught = 0
    for seed in range(100):
        with OrderSource(str(path)) as source:
            _, sample = draw_sample(source, size=100, seed=seed)
        result = check_sample(sample, stored)
        sampled_wrong = {o.source_id for o in sample.orders} & wrong
        # Every altered order that was sampled is caught, and nothing else is.
        assert {d.source_id for d in result.differences} == sampled_wrong
        caught += result.mismatches > 0
    print(f"5% altered, samples of 100: caught in {caught} of 100 seeded runs")
    assert caught >= 99, f"caught in {caught} of 100 runs"
    assert len(ids) == 1


def test_a_missing_order_is_reported_as_missing(server: EmulatorServer, tmp_path: Path) -> None:
    path = many_orders(tmp_path, 50)
    ids = imported(server, path)
    deleted = server.set_faults(alter_orders={"share": 0.04, "fields": ["deleted"]}, seed=1)["altered_orders"]
    assert len(deleted) == 2

    with pytest.raises(AirflowFailException) as failure:
        reconcile(path, ids, sample_size=100)
    for entry in deleted:
        assert f"{entry['source_id']} | order | present | (missing)" in str(failure.value)

    summary = reconcile(path, ids, sample_size=100, max_mismatches=2)
    assert (summary["missing"], summary["mismatches"], summary["matched"]) == (2, 2, 48)


def test_orders_that_voucherify_refused_are_written_to_the_failed_orders_file(
    server: EmulatorServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    orders = [order_dict(n) for n in range(30)]
    refused = {f"ord-{n:07d}" for n in (3, 17, 29)}
    for order in orders:
        if order["source_id"] in refused:
            order["customer"] = {"id": "cust_does_not_exist"}
    path = write_jsonl(tmp_path / "orders.jsonl", orders)
    ids = imported(server, path, batch_size=10)
    failed_path = tmp_path / "out" / "failed.jsonl"

    summary = reconcile(path, ids, sample_size=100, failed_orders_path=str(failed_path))

    assert (summary["done"], summary["failed"], summary["sampled"], summary["matched"]) == (27, 3, 27, 27)
    entries = [json.loads(line) for line in failed_path.read_text().splitlines()]
    assert {entry["source_id"] for entry in entries} == refused
    assert all(entry["reason"] == "Cannot find customer with id cust_does_not_exist" for entry in entries)
    assert {entry["async_action_id"] for entry in entries} <= set(ids)
    assert f"are listed in {failed_path}" in logged(capfd)


def test_counts_that_do_not_add_up_fail_naming_the_actions(server: EmulatorServer, tmp_path: Path) -> None:
    path = many_orders(tmp_path, 20)
    ids = imported(server, path)
    longer = write_jsonl(tmp_path / "longer.jsonl", [order_dict(n) for n in range(21)])

    with pytest.raises(AirflowFailException, match=rf"21 valid orders.*accounts for 20.*{ids[0]} \(DONE"):
        reconcile(longer, ids, sample_size=0)


def test_a_failed_import_is_named(server: EmulatorServer, tmp_path: Path) -> None:
    path = many_orders(tmp_path, 20)
    server.set_faults(fail_imports=1)
    ids = imported(server, path, batch_size=10)

    with pytest.raises(AirflowFailException, match=rf"{ids[0]} \(FAILED") as failure:
        reconcile(path, ids, sample_size=0)
    assert ids[1] not in str(failure.value)


def test_an_unfinished_import_is_a_retryable_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with EmulatorServer(tmp_path / "slow", orders_per_second=1) as slow:
        point_connection(monkeypatch, slow)
        path = many_orders(tmp_path, 20)
        ids = [VoucherifyHook().import_orders([order_dict(n) for n in range(20)])]
        with pytest.raises(AirflowException, match="still running") as failure:
            reconcile(path, ids)
    assert not isinstance(failure.value, AirflowFailException)


def test_personal_data_is_compared_but_never_shown(
    server: EmulatorServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = many_orders(tmp_path, 5)
    ids = imported(server, path)
    changed = [varied_order(n) for n in range(5)]
    for order in changed:
        order["customer"]["email"] = "someone.else@example.org"
    other = write_jsonl(tmp_path / "changed.jsonl", changed)

    with pytest.raises(AirflowFailException) as failure:
        reconcile(other, ids, sample_size=5, compare_customers=True)

    text = logged(capfd)
    for where in (str(failure.value), text):
        assert "customer.email | (not shown) | differs" in " ".join(where.split())
    assert_no_personal_data(str(failure.value), text)
    assert "someone.else" not in str(failure.value) + text


def test_of_import_takes_the_settings_that_decided_what_was_sent() -> None:
    with DAG("voucherify_of_import", schedule=None, start_date=datetime(2024, 1, 1)):
        import_orders = ImportOrdersOperator(
            task_id="import_orders",
            orders="{{ params.path }}",
            voucherify_conn_id="{{ params.conn }}",
            batch_size=40,
            require_source_id=False,
            created_at_metadata_key="placed_at",
            preflight=False,
            deferrable=True,
        )
        reconcile = ReconcileOrdersOperator.of_import(import_orders, task_id="reconcile", sample_size=7)

    settings = (
        "orders", "voucherify_conn_id", "batch_size", "require_source_id", "created_at_metadata_key",
        "deferrable",
    )  # fmt: skip
    taken = [getattr(reconcile, name) for name in settings]
    assert taken == [getattr(import_orders, name) for name in settings]
    assert (reconcile.preflight, reconcile.sample_size) == (False, 7)
    assert reconcile.async_action_ids.operator is import_orders
    assert reconcile.upstream_task_ids == {"import_orders"}


def test_bad_arguments_fail_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="max_mismatches"):
        ReconcileOrdersOperator(task_id="r", orders="x", async_action_ids=[], max_mismatches=-1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        ReconcileOrdersOperator(task_id="r", orders="x", async_action_ids=[], detect_corruption_rate=2)


def shared_customers(tmp_path: Path, count: int, customers: int = 20) -> Path:
    """``count`` orders of ``varied_order`` placed by ``customers`` customers in turn."""
    orders = [varied_order(n) for n in range(count)]
    for n, order in enumerate(orders):
        order["customer"]["source_id"] = f"cust-{n % customers}"
    return write_jsonl(tmp_path / "orders.jsonl", orders)


def reads_since(server: EmulatorServer, before: dict[str, Any]) -> dict[str, int]:
    requests = server.stats()["requests"]
    return {route: sum(requests[route].values()) - sum(before.get(route, {}).values()) for route in requests}


@pytest.mark.parametrize(("compare_customers", "customer_reads"), [(False, 0), (True, 20)])
def test_customers_are_checked_by_link_for_free_or_read_on_request(
    server: EmulatorServer, tmp_path: Path, compare_customers: bool, customer_reads: int
) -> None:
    path = shared_customers(tmp_path, 300)
    ids = imported(server, path, batch_size=100)
    before = server.stats()["requests"]

    summary = reconcile(path, ids, sample_size=100, seed=4, compare_customers=compare_customers)

    assert summary["sampled"] == summary["matched"] == 100
    reads = reads_since(server, before)
    assert reads["GET /v1/orders/{id}"] == summary["order_reads"] == 100
    # 20 customers, 5 orders each in the sample on average: each read once when compared.
    assert reads.get("GET /v1/customers/{id}", 0) == summary["customer_reads"] == customer_reads
    assert reads["GET /v1/async-actions/{id}"] == 3


@pytest.mark.parametrize(("compare_customers", "field"), [(False, "customer"), (True, "customer.source_id")])
def test_an_order_linked_to_another_customer_is_caught_in_both_modes(
    server: EmulatorServer, tmp_path: Path, compare_customers: bool, field: str
) -> None:
    path = shared_customers(tmp_path, 200)
    ids = imported(server, path)
    altered = server.set_faults(alter_orders={"share": 0.03, "fields": ["customer"]}, seed=5)[
        "altered_orders"
    ]
    assert len(altered) == 6

    with pytest.raises(AirflowFailException) as failure:
        reconcile(path, ids, sample_size=200, compare_customers=compare_customers)

    rows = [[cell.strip() for cell in line.split(" | ")] for line in str(failure.value).splitlines()[3:]]
    assert {(row[0], row[1]) for row in rows} == {(entry["source_id"], field) for entry in altered}
    assert "6 of 200 sampled orders differ" in str(failure.value)
    assert_no_personal_data(str(failure.value))
    if not compare_customers:  # by link, the rows name orders and stored ids, never a customer's source_id
        assert "cust-" not in str(failure.value)


# -- through Airflow ----------------------------------------------------------------------------


def test_import_then_reconcile_through_dag_test(
    airflow_db: Path, server: EmulatorServer, tmp_path: Path
) -> None:
    path = many_orders(tmp_path, 60)
    with DAG(
        "voucherify_reconcile_test", schedule=None, start_date=datetime(2024, 1, 1), catchup=False
    ) as dag:
        import_orders = ImportOrdersOperator(
            task_id="import_orders",
            orders=str(path),
            batch_size=25,
            wait_for_completion=True,
            poll_interval=0.2,
        )
        ReconcileOrdersOperator(
            task_id="reconcile",
            orders="{{ params.orders }}",
            async_action_ids=import_orders.output,
            sample_size="{{ params.sample_size }}",
            seed="{{ run_id }}",
            failed_orders_path=str(tmp_path / "{{ ds }}" / "failed.jsonl"),
            params={"orders": str(path), "sample_size": 20},
        )

    dag_run = run_test_dag(dag)

    assert dag_run.state == "success"
    summary = xcoms(dag_run, "reconcile")["return_value"]
    assert (summary["sent"], summary["done"], summary["sampled"], summary["matched"]) == (60, 60, 20, 20)
    assert len(list(tmp_path.glob("*/failed.jsonl"))) == 1
    assert_no_personal_data(json.dumps(summary))
