"""ImportOrdersOperator against the emulator over real HTTP; XCom and retries through ``dag.test()``."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from packaging.version import Version

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.exceptions import InvalidOrderError, VoucherifyError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.models import MAX_IMPORT_BYTES
from airflow_provider_voucherify.operators._task import AirflowFailException
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from tests.airflow_helpers import rendered_fields, run_test_dag, xcoms
from tests.operators.conftest import PERSONAL, assert_no_personal_data, order_dict, write_jsonl

AIRFLOW_3_3 = Version(version("apache-airflow")).release >= (3, 3)


class FakeTI:
    """The one method of a task instance that ``execute`` calls, for tests without ``dag.test()``."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, *, task_ids: str, key: str, map_indexes: int) -> Any:
        return self.xcom.get(key)  # this task's own (a resumed deferral reads its state)

    task_id, map_index = "import_orders", -1


def run(operator: ImportOrdersOperator, **context: Any) -> tuple[list[str], dict[str, Any]]:
    ti = FakeTI()
    ids = operator.execute({"ti": ti, **context})  # type: ignore[arg-type]
    return ids, ti.xcom["import_summary"]


def stored(server: EmulatorServer, ids: list[str]) -> dict[str, Any]:
    """Wait for the imports to finish; return the emulator's counters."""
    actions = wait_for_actions(server, ids)
    assert {action["status"] for action in actions.values()} == {"DONE"}
    return server.stats()


# -- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size must be between 1 and 2000"),
        ({"batch_size": 2001}, "batch_size must be between 1 and 2000"),
        ({"on_invalid": "ignore"}, "on_invalid must be one of"),
        ({"on_invalid": "skip", "max_invalid": -1}, "must not be negative"),
        ({"max_invalid": 3}, 'apply to on_invalid="skip" only'),
        ({"rejects_path": "/tmp/r.jsonl"}, 'apply to on_invalid="skip" only'),
        ({"poll_interval": 0}, "poll_interval must be positive"),
        ({"timeout": timedelta(0)}, "timeout must be positive"),
        ({"created_at_metadata_key": ""}, "created_at_metadata_key"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ImportOrdersOperator(task_id="import", orders=[], **options)


def test_batch_size_must_be_an_int() -> None:
    with pytest.raises(TypeError, match="batch_size must be an int"):
        ImportOrdersOperator(task_id="import", orders=[], batch_size="100")  # type: ignore[arg-type]


def test_orders_rejects_path_resume_the_connection_dry_run_and_historical_before_are_templated() -> None:
    assert set(ImportOrdersOperator.template_fields) == {
        "orders",
        "rejects_path",
        "resume",
        "voucherify_conn_id",
        "is_dry_run",
        "historical_before",
    }


# -- sources -----------------------------------------------------------------------------------


def test_a_list_of_orders_is_imported(server: EmulatorServer) -> None:
    ids, summary = run(ImportOrdersOperator(task_id="import", orders=[order_dict(n) for n in range(1, 6)]))
    assert len(ids) == 1
    assert summary == {"read": 5, "valid": 5, "invalid": 0, "sent": 5, "skipped_on_retry": 0, "batches": 1}
    assert stored(server, ids)["orders_stored"] == 5


@pytest.mark.parametrize("name", ["orders.jsonl", "orders.jsonl.gz"])
def test_json_lines_files_are_imported(server: EmulatorServer, tmp_path: Path, name: str) -> None:
    path = write_jsonl(tmp_path / name, (order_dict(n) for n in range(1, 2501)), gz=name.endswith(".gz"))
    ids, summary = run(ImportOrdersOperator(task_id="import", orders=str(path)))
    assert summary["sent"] == 2500
    assert summary["batches"] == 2
    stats = stored(server, ids)
    assert stats["orders_stored"] == stats["distinct_source_ids_received"] == 2500


def test_object_storage_uris_are_imported(server: EmulatorServer, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "orders.jsonl.gz", (order_dict(n) for n in range(1, 4)), gz=True)
    ids, _ = run(ImportOrdersOperator(task_id="import", orders=f"file://{path}"))
    assert stored(server, ids)["orders_stored"] == 3


def test_created_at_is_moved_into_metadata(server: EmulatorServer) -> None:
    orders = [order_dict(1), order_dict(2, created_at=datetime(2019, 1, 2, 3, 4, 5), metadata={"k": "v"})]
    ids, _ = run(ImportOrdersOperator(task_id="import", orders=orders, created_at_metadata_key="placed_at"))
    stored(server, ids)
    hook = VoucherifyHook()
    assert hook.get_order("ord-0000001")["metadata"] == {"placed_at": "2021-03-04T05:06:07.000Z"}
    assert hook.get_order("ord-0000002")["metadata"] == {"k": "v", "placed_at": "2019-01-02T03:04:05.000Z"}


def test_empty_input_sends_nothing(server: EmulatorServer, tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    ids, summary = run(ImportOrdersOperator(task_id="import", orders=str(path), wait_for_completion=True))
    assert ids == []
    assert summary["read"] == 0
    assert server.stats()["total_requests"] == 0


# -- limits ------------------------------------------------------------------------------------


def test_at_most_2000_orders_per_request(server: EmulatorServer) -> None:
    ids, summary = run(ImportOrdersOperator(task_id="import", orders=[order_dict(n) for n in range(4001)]))
    assert summary["batches"] == len(ids) == 3
    stats = stored(server, ids)
    assert stats["imports_accepted"] == 3
    assert stats["orders_stored"] == 4001


def test_large_orders_are_split_by_the_10_mib_limit(server: EmulatorServer, tmp_path: Path) -> None:
    # 24 orders of ~1 MiB each: 2000 would fit by count, only the byte limit splits them.
    blob = "x" * (1024 * 1024 - 1000)
    orders = (order_dict(n, metadata={"notes": blob}) for n in range(24))
    path = write_jsonl(tmp_path / "large.jsonl", orders)
    ids, summary = run(ImportOrdersOperator(task_id="import", orders=str(path)))
    assert summary["batches"] == len(ids) == 3  # 10 + 10 + 4
    stats = stored(server, ids)
    assert stats["orders_stored"] == 24
    assert stats["requests"]["POST /v1/orders/import"] == {"200": 3}  # no 413
    assert 24 * len(blob) > 2 * MAX_IMPORT_BYTES


# -- invalid records ---------------------------------------------------------------------------


def bad_file(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "orders.jsonl",
        [
            order_dict(1),
            order_dict(2, amount=-5),
            "this is not json",
            order_dict(4),
            order_dict(5, source_id=None),
            order_dict(6, items=[{"quantity": 0}]),
            order_dict(7),
        ],
    )


def test_fail_policy_stops_at_the_first_invalid_record_before_sending(
    server: EmulatorServer, tmp_path: Path
) -> None:
    with pytest.raises(AirflowFailException) as failure:
        run(ImportOrdersOperator(task_id="import", orders=str(bad_file(tmp_path))))
    error = failure.value.__cause__
    assert isinstance(error, InvalidOrderError)  # not retried: the same file fails the same way
    assert str(error) == (
        "Invalid order (line 2, source_id='ord-0000002'): .amount: Input should be greater than or equal to 0"
    )
    assert "POST /v1/orders/import" not in server.stats()["requests"]  # (line 1 read the schema)


def test_skip_policy_imports_the_valid_ones_and_lists_the_rest(
    server: EmulatorServer, tmp_path: Path
) -> None:
    rejects = tmp_path / "rejects" / "rejects.jsonl"
    operator = ImportOrdersOperator(
        task_id="import",
        orders=str(bad_file(tmp_path)),
        on_invalid="skip",
        max_invalid=4,
        rejects_path=rejects,
    )
    ids, summary = run(operator)
    assert summary == {"read": 7, "valid": 3, "invalid": 4, "sent": 3, "skipped_on_retry": 0, "batches": 1}
    assert stored(server, ids)["orders_stored"] == 3
    entries = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(entry["line"], entry["source_id"]) for entry in entries] == [
        (2, "ord-0000002"),
        (3, None),
        (5, None),
        (6, "ord-0000006"),
    ]
    assert entries[0]["errors"] == [
        {"path": ".amount", "reason": "Input should be greater than or equal to 0"}
    ]
    assert entries[1]["errors"][0]["path"] == ""
    assert entries[1]["errors"][0]["reason"].startswith("Invalid JSON")
    assert entries[2]["errors"][0]["path"] == ".source_id"
    assert entries[3]["errors"] == [
        {"path": ".items[0].quantity", "reason": "Input should be greater than or equal to 1"}
    ]
    assert_no_personal_data(rejects.read_text())


def test_skip_policy_fails_once_max_invalid_is_passed(server: EmulatorServer, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    operator = ImportOrdersOperator(
        task_id="import",
        orders=str(bad_file(tmp_path)),
        on_invalid="skip",
        max_invalid=2,
        rejects_path=rejects,
    )
    with pytest.raises(
        AirflowFailException, match=r"line 5.*3 invalid records, more than max_invalid=2"
    ) as error:
        run(operator)
    assert isinstance(error.value.__cause__, InvalidOrderError)
    assert len(rejects.read_text().splitlines()) == 3
    assert "POST /v1/orders/import" not in server.stats()["requests"]  # the only batch was still open


def test_no_personal_data_in_logs_or_errors(
    server: EmulatorServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("DEBUG")
    path = bad_file(tmp_path)
    ids, _ = run(ImportOrdersOperator(task_id="a", orders=str(path), on_invalid="skip", max_invalid=10))
    stored(server, ids)
    with pytest.raises(AirflowFailException) as error:
        run(ImportOrdersOperator(task_id="b", orders=str(path)))
    out, err = capfd.readouterr()
    assert PERSONAL[1] in path.read_text()  # the input does carry it
    assert_no_personal_data(caplog.text, out, err, str(error.value), repr(error.value))


# -- waiting -----------------------------------------------------------------------------------


def test_wait_for_completion_polls_until_done(server: EmulatorServer) -> None:
    operator = ImportOrdersOperator(
        task_id="import",
        orders=[order_dict(1)],
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.05,
    )
    ids, _ = run(operator)
    assert server.stats()["orders_stored"] == 1
    assert len(ids) == 1


def test_wait_for_completion_fails_when_the_import_fails(server: EmulatorServer) -> None:
    server.set_faults(fail_imports=1)
    operator = ImportOrdersOperator(
        task_id="import",
        orders=[order_dict(1)],
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.05,
    )
    with pytest.raises(VoucherifyError, match=r"Import failed: Async action aa_\w+ FAILED"):
        run(operator)


def test_a_retry_sends_again_the_batch_whose_import_failed(server: EmulatorServer) -> None:
    from tests.importing.test_ledger import DictStore

    store = DictStore()
    operator = ImportOrdersOperator(
        task_id="import",
        orders=[order_dict(n) for n in range(1, 7)],
        batch_size=2,
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.05,
    )
    server.set_faults(fail_imports=1)  # the first of the three imports ends FAILED
    with pytest.raises(VoucherifyError, match="FAILED"):
        run(operator, task_state_store=store)
    server.clear_faults()
    ids, summary = run(operator, task_state_store=store)
    assert (summary["sent"], summary["skipped_on_retry"]) == (2, 4)
    assert len(set(ids)) == 3
    stats = server.stats()
    assert (stats["imports_accepted"], stats["orders_stored"], stats["duplicate_payloads"]) == (4, 6, 1)


def test_deferrable_wait_hands_every_parameter_to_the_trigger(server: EmulatorServer) -> None:
    try:
        from airflow.sdk.exceptions import TaskDeferred
    except ImportError:  # Airflow < 3.2
        from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

    operator = ImportOrdersOperator(
        task_id="import",
        orders=[order_dict(1)],
        wait_for_completion=True,
        deferrable=True,
        poll_interval=7,
        max_failed_orders=3,
        timeout=600,
    )
    with pytest.raises(TaskDeferred) as deferred:
        run(operator)
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "airflow_provider_voucherify.triggers.async_action.AsyncActionTrigger"
    assert kwargs["poll_interval"] == 7
    assert kwargs["max_failed_orders"] == 3
    assert kwargs["voucherify_conn_id"] == "voucherify_default"
    assert len(kwargs["async_action_ids"]) == 1
    assert deferred.value.method_name == "execute_complete"
    ids = deferred.value.kwargs["async_action_ids"]
    success = {"status": "success", "message": "1 async actions DONE", "summary": {"actions": ids}}
    assert operator.execute_complete({}, success, async_action_ids=ids) == ids  # type: ignore[arg-type]
    with pytest.raises(VoucherifyError, match="Import timeout: still running"):
        operator.execute_complete({}, {"status": "timeout", "message": "still running"}, ids)  # type: ignore[arg-type]


# -- through Airflow: XCom, retries ------------------------------------------------------------


def run_dag(dag_id: str, **operator_kwargs: Any) -> Any:
    """Run a one-task DAG with ``dag.test()`` and return its DagRun."""
    with DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
        ImportOrdersOperator(task_id="import_orders", **operator_kwargs)
    return run_test_dag(dag)


def test_xcoms_through_airflow(airflow_db: Path, server: EmulatorServer, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "orders.jsonl", (order_dict(n) for n in range(25)))
    dag_run = run_dag("voucherify_import_xcom", orders=str(path), batch_size=10)
    assert dag_run.state == "success"
    values = xcoms(dag_run, "import_orders")
    assert values["import_summary"] == {
        "read": 25,
        "valid": 25,
        "invalid": 0,
        "sent": 25,
        "skipped_on_retry": 0,
        "batches": 3,
    }
    assert len(values["return_value"]) == 3
    assert all(action_id.startswith("aa_") for action_id in values["return_value"])
    assert_no_personal_data(json.dumps(values))


def test_a_list_of_orders_is_not_shown_as_rendered_template(airflow_db: Path, server: EmulatorServer) -> None:
    dag_run = run_dag("voucherify_import_list", orders=[order_dict(n) for n in range(3)])
    assert dag_run.state == "success"
    rendered = rendered_fields(dag_run, "import_orders")
    assert rendered["orders"] == "<3 orders in memory, not shown: they may hold personal data>"
    assert_no_personal_data(json.dumps(rendered))
    assert xcoms(dag_run, "import_orders")["import_summary"]["sent"] == 3


def failing_after_two_batches(server: EmulatorServer) -> Any:
    """Imports answer 503 half of the time, seeded so that the first two pass and the third fails
    (the hook has no retries left): the task fails mid-import with an error a retry can cure."""
    server.set_faults(error_rate=0.5, error_statuses=[503], seed=0, paths=["/v1/orders/import"])

    def clear_faults(context: Any) -> None:
        server.clear_faults()

    return clear_faults


@pytest.mark.skipif(not AIRFLOW_3_3, reason="task_state_store arrived in Airflow 3.3")
def test_a_retry_resumes_after_the_accepted_batches(
    airflow_db: Path, server: EmulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_jsonl(tmp_path / "orders.jsonl.gz", (order_dict(n) for n in range(50)), gz=True)
    dag_run = run_dag(
        "voucherify_import_retry",
        orders=str(path),
        batch_size=10,
        retries=1,
        retry_delay=timedelta(0),
        on_retry_callback=failing_after_two_batches(server),
    )
    assert dag_run.state == "success"
    values = xcoms(dag_run, "import_orders")
    assert values["import_summary"]["skipped_on_retry"] == 20
    assert values["import_summary"]["sent"] == 30
    ids = values["return_value"]
    assert len(set(ids)) == 5
    stats = stored(server, ids)
    # Every order exactly once, no batch twice: the retry skipped batches 1 and 2.
    assert stats["imports_accepted"] == 5
    assert stats["orders_received"] == stats["distinct_source_ids_received"] == stats["orders_stored"] == 50
    assert stats["duplicate_payloads"] == 0
    assert stats["requests"]["POST /v1/orders/import"] == {"200": 5, "503": 1}


@pytest.mark.skipif(AIRFLOW_3_3, reason="Airflow 3.3+ resumes from the task state store instead")
def test_a_retry_without_task_state_store_relies_on_source_id_upserts(
    airflow_db: Path, server: EmulatorServer, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "orders.jsonl", (order_dict(n) for n in range(50)))
    dag_run = run_dag(
        "voucherify_import_retry_upsert",
        orders=str(path),
        batch_size=10,
        retries=1,
        retry_delay=timedelta(0),
        on_retry_callback=failing_after_two_batches(server),
    )
    assert dag_run.state == "success"
    stats = stored(server, xcoms(dag_run, "import_orders")["return_value"])
    assert stats["orders_stored"] == stats["distinct_source_ids_received"] == 50
    assert stats["imports_accepted"] == 7  # batches 1 and 2 again, as upserts


# -- lineage -----------------------------------------------------------------------------------


def test_lineage_is_none_without_openlineage(server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage.extractors", None)
    operator = ImportOrdersOperator(task_id="import", orders="/data/orders.jsonl")
    assert operator.get_openlineage_facets_on_complete(None) is None


# The lineage itself is tested with the real OpenLineage provider: tests/openlineage/.
