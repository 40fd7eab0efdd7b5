"""Preflight (metadata schemas) and dry run of ImportOrdersOperator, through ``dag.test()`` against
the emulator over HTTP; the pure parts (created_at judgement, dry-run arithmetic) without it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.exceptions import InvalidOrderError, MetadataSchemaError
from airflow_provider_voucherify.importing.dry_run import bulk_calls_per_hour, dry_run_report
from airflow_provider_voucherify.importing.preflight import created_at_problem
from airflow_provider_voucherify.metadata_schema import MetadataSchema
from airflow_provider_voucherify.operators._task import AirflowFailException
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from tests.operators.conftest import assert_no_personal_data, order_dict, write_jsonl
from tests.operators.test_import_orders import run, run_dag, xcoms

DATETIME = {"type": "datetime", "array": False, "optional": True}
STRICT_WITHOUT_DATE = {
    "allow_defined_only": True,
    "properties": {"region": {"type": "string", "array": False, "optional": True}},
}


def requests(server: EmulatorServer, route: str) -> dict[str, int]:
    return dict(server.stats()["requests"].get(route, {}))


def task_log(capsys: pytest.CaptureFixture[str]) -> str:
    """The operator's log: Airflow's task logger writes to the standard streams."""
    captured = capsys.readouterr()
    return captured.out + captured.err


def rejects(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- pure --------------------------------------------------------------------------------------


def schema(**body: Any) -> MetadataSchema:
    return MetadataSchema.from_api({"properties": {}, **body}, "order")


def test_created_at_key_judged_against_the_order_schema() -> None:
    key = "original_created_at"
    assert created_at_problem(None, key) is None
    assert created_at_problem(schema(allow_defined_only=True), None) is None
    assert created_at_problem(schema(properties={key: DATETIME}, allow_defined_only=True), key) is None
    message, fatal = created_at_problem(schema(allow_defined_only=True), key) or ("", False)
    assert fatal
    assert "'original_created_at'" in message
    assert "type datetime" in message
    message, fatal = created_at_problem(schema(), key) or ("", True)
    assert not fatal
    assert "as a string" in message
    string_rule = {**DATETIME, "type": "string"}
    message, fatal = created_at_problem(schema(properties={key: string_rule}), key) or ("", True)
    assert not fatal
    assert "as string, not datetime" in message


def test_bulk_limit_comes_from_the_parameter_or_bulk_headers() -> None:
    assert bulk_calls_per_hour(3, {"limit": 50, "limit_type": "bulk_api_calls"}) == (3, "bulk_calls_per_hour")
    bulk = {"limit": 50, "limit_type": "bulk_api_calls"}
    assert bulk_calls_per_hour(None, bulk) == (50, "X-Rate-Limit-Limit")
    assert bulk_calls_per_hour(None, {"limit": 100, "limit_type": "api_calls"}) == (None, None)
    assert bulk_calls_per_hour(None, None) == (None, None)


def test_dry_run_report_counts_windows_of_the_bulk_limit() -> None:
    counts = {"read": 4003, "valid": 4001, "invalid": 2}
    report = dry_run_report(counts, [2000, 2000, 1], bulk_calls_per_hour=1, source="bulk_calls_per_hour")
    assert report["batches"] == report["bulk_calls"] == 3
    assert report["hours_at_bulk_limit"] == 3
    assert report["sent"] == 0
    assert dry_run_report(counts, [5], bulk_calls_per_hour=None, source=None)["hours_at_bulk_limit"] is None


# -- through Airflow against the emulator ------------------------------------------------------


def test_allow_defined_only_without_the_date_key_sends_nothing_and_names_the_key(
    airflow_db: Path, server: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.set_metadata_schemas({"order": STRICT_WITHOUT_DATE})
    path = write_jsonl(tmp_path / "orders.jsonl", (order_dict(n) for n in range(30)))
    dag_run = run_dag("voucherify_preflight_strict", orders=str(path), batch_size=10)
    assert dag_run.state == "failed"
    task_log = capsys.readouterr().out  # dag.test() prints the task's log
    assert "does not define 'original_created_at'" in task_log
    assert "as type datetime" in task_log
    assert requests(server, "POST /v1/orders/import") == {}
    assert requests(server, "GET /v1/metadata-schemas/{resource}") == {"200": 1}
    # The same, without Airflow around it: the error itself says it.
    with pytest.raises(AirflowFailException, match="does not define 'original_created_at'") as failure:
        run(ImportOrdersOperator(task_id="t", orders=str(path)))
    assert isinstance(failure.value.__cause__, MetadataSchemaError)  # not retried


def test_a_missing_required_key_rejects_exactly_those_orders(
    airflow_db: Path, server: EmulatorServer, tmp_path: Path
) -> None:
    required = {"region": {"type": "string", "array": False, "optional": False}}
    server.set_metadata_schemas({"order": {"properties": {**required, "original_created_at": DATETIME}}})
    lacking = {3, 7, 8}
    path = write_jsonl(
        tmp_path / "orders.jsonl",
        (order_dict(n, metadata=None if n in lacking else {"region": "eu"}) for n in range(20)),
    )
    rejects_path = tmp_path / "rejects.jsonl"
    dag_run = run_dag(
        "voucherify_preflight_required",
        orders=str(path),
        on_invalid="skip",
        max_invalid=5,
        rejects_path=str(rejects_path),
    )
    assert dag_run.state == "success"
    values = xcoms(dag_run, "import_orders")
    assert values["import_summary"]["invalid"] == 3
    assert values["import_summary"]["sent"] == 17
    assert [entry["source_id"] for entry in rejects(rejects_path)] == [
        f"ord-{n:07d}" for n in sorted(lacking)
    ]
    assert rejects(rejects_path)[0]["errors"] == [
        {"path": ".metadata.region", "reason": "required by the order metadata schema"}
    ]
    action = wait_for_actions(server, values["return_value"])[values["return_value"][0]]
    assert action["result"]["failed_count"] == 0
    assert server.stats()["orders_stored"] == 17


def test_a_type_mismatch_is_a_reject_naming_the_key_and_the_type(
    airflow_db: Path, server: EmulatorServer, tmp_path: Path
) -> None:
    number = {"type": "number", "array": False, "optional": True}
    server.set_metadata_schemas({"order": {"properties": {"location": number}}})
    orders = [order_dict(0, metadata={"location": "x"}), order_dict(1, metadata={"location": 4})]
    rejects_path = tmp_path / "rejects.jsonl"
    dag_run = run_dag(
        "voucherify_preflight_type",
        orders=str(write_jsonl(tmp_path / "o.jsonl", orders)),
        on_invalid="skip",
        max_invalid=1,
        rejects_path=str(rejects_path),
    )
    assert dag_run.state == "success"
    assert rejects(rejects_path) == [
        {
            "line": 1,
            "source_id": "ord-0000000",
            "errors": [
                {
                    "path": ".metadata.location",
                    "reason": "should be number (the order metadata schema defines it so)",
                }
            ],
        }
    ]
    assert server.stats()["orders_stored"] == 1


def test_with_preflight_off_the_emulator_refuses_the_same_orders(
    server: EmulatorServer, tmp_path: Path
) -> None:
    number = {"type": "number", "array": False, "optional": True}
    required = {"type": "string", "array": False, "optional": False}
    server.set_metadata_schemas({"order": {"properties": {"location": number, "region": required}}})
    orders = [
        order_dict(0, metadata={"location": "x", "region": "eu"}),
        order_dict(1, metadata={"location": 4}),
        order_dict(2, metadata={"location": 4, "region": "eu"}),
    ]
    path = write_jsonl(tmp_path / "o.jsonl", orders)
    checked = tmp_path / "checked.jsonl"
    _, report = run(
        ImportOrdersOperator(
            task_id="t",
            orders=str(path),
            on_invalid="skip",
            max_invalid=3,
            rejects_path=str(checked),
            dry_run=True,
        )
    )
    assert report["invalid"] == 2
    assert requests(server, "POST /v1/orders/import") == {}
    ids, summary = run(ImportOrdersOperator(task_id="t", orders=str(path), preflight=False))
    assert summary["sent"] == 3
    assert requests(server, "GET /v1/metadata-schemas/{resource}") == {"200": 1}  # only the first run's
    failed = next(iter(wait_for_actions(server, ids).values()))["result"]["failed"]
    assert (
        {entry["source_id"] for entry in failed}
        == {entry["source_id"] for entry in rejects(checked)}
        == {
            "ord-0000000",
            "ord-0000001",
        }
    )
    assert {entry["reason"] for entry in failed} == {
        "Property .metadata.location should be number",
        "Property .metadata.region is required by the order metadata schema",
    }


def test_no_schema_changes_nothing_and_a_loose_schema_warns_once(
    server: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(tmp_path / "o.jsonl", (order_dict(n) for n in range(5)))
    _, summary = run(ImportOrdersOperator(task_id="t", orders=str(path)))
    assert summary["sent"] == 5
    assert requests(server, "GET /v1/metadata-schemas/{resource}") == {"404": 1}
    server.set_metadata_schemas({"order": {"properties": {}}})
    capsys.readouterr()
    _, summary = run(ImportOrdersOperator(task_id="t", orders=str(path), batch_size=2))
    assert summary["sent"] == 5
    assert task_log(capsys).count("will store each order's original date as a string") == 1


def test_orders_without_status_are_counted_in_one_warning(
    server: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders = [order_dict(n) for n in range(6)]
    for order in orders[:4]:
        del order["status"]
    run(ImportOrdersOperator(task_id="t", orders=orders, batch_size=2))
    log = task_log(capsys)
    assert log.count("have no status") == 1
    assert "4 valid orders have no status" in log


def test_item_and_customer_schemas_are_read_only_when_orders_carry_their_metadata(
    server: EmulatorServer, tmp_path: Path
) -> None:
    server.set_metadata_schemas({"customer": {"allow_defined_only": True, "properties": {}}})
    plain = [order_dict(n) for n in range(3)]
    run(ImportOrdersOperator(task_id="t", orders=plain))
    assert requests(server, "GET /v1/metadata-schemas/{resource}") == {"404": 1}  # order only
    server.reset()
    server.set_metadata_schemas({"customer": {"allow_defined_only": True, "properties": {}}})
    tagged = [order_dict(n) for n in range(3)]
    for order in tagged:
        order["customer"] = {**order["customer"], "metadata": {"tier": "gold"}}
    with pytest.raises(AirflowFailException, match=r"\.customer\.metadata\.tier") as failure:
        run(ImportOrdersOperator(task_id="t", orders=tagged))
    assert isinstance(failure.value.__cause__, InvalidOrderError)  # not retried
    assert requests(server, "GET /v1/metadata-schemas/{resource}") == {"404": 1, "200": 1}
    assert requests(server, "POST /v1/orders/import") == {}


def test_dry_run_sends_nothing_and_reports_what_a_real_run_sends(
    airflow_db: Path, server: EmulatorServer, tmp_path: Path
) -> None:
    server.set_metadata_schemas({"order": {"properties": {"original_created_at": DATETIME}}})
    orders = [order_dict(n) for n in range(45)]
    orders[4]["amount"] = -1
    path = write_jsonl(tmp_path / "o.jsonl", orders)
    options = {"orders": str(path), "batch_size": 10, "on_invalid": "skip", "max_invalid": 3}
    dry = run_dag(
        "voucherify_dry_run",
        dry_run=True,
        bulk_calls_per_hour=2,
        rejects_path=str(tmp_path / "dry.jsonl"),
        **options,
    )
    assert dry.state == "success"
    report = xcoms(dry, "import_orders")["import_summary"]
    assert requests(server, "POST /v1/orders/import") == {}
    assert report == {
        "read": 45,
        "valid": 44,
        "invalid": 1,
        "dry_run": True,
        "sent": 0,
        "skipped_on_retry": 0,
        "batches": 5,
        "bulk_calls": 5,
        "largest_batch": 10,
        "bulk_calls_per_hour": 2,
        "bulk_limit_source": "bulk_calls_per_hour",
        "hours_at_bulk_limit": 3,
    }
    assert xcoms(dry, "import_orders")["return_value"] == []
    assert_no_personal_data(json.dumps(report))
    real = run_dag("voucherify_real_run", rejects_path=str(tmp_path / "real.jsonl"), **options)
    assert real.state == "success"
    assert xcoms(real, "import_orders")["import_summary"]["batches"] == report["batches"]
    assert requests(server, "POST /v1/orders/import") == {"200": 5}
    assert (tmp_path / "dry.jsonl").read_text() == (tmp_path / "real.jsonl").read_text() != ""


def test_dry_run_fails_like_a_real_run_on_a_doomed_schema(server: EmulatorServer, tmp_path: Path) -> None:
    server.set_metadata_schemas({"order": STRICT_WITHOUT_DATE})
    with pytest.raises(AirflowFailException) as failure:
        run(ImportOrdersOperator(task_id="t", orders=[order_dict(1)], dry_run=True))
    assert isinstance(failure.value.__cause__, MetadataSchemaError)  # not retried
    assert requests(server, "POST /v1/orders/import") == {}


def test_bulk_calls_per_hour_must_be_positive() -> None:
    with pytest.raises(ValueError, match="bulk_calls_per_hour"):
        ImportOrdersOperator(task_id="t", orders=[], bulk_calls_per_hour=0)
