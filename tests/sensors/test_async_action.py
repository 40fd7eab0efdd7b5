"""AsyncActionSensor: poke, reschedule and deferrable waits through ``dag.test()`` against the emulator."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from airflow.sdk import DAG, task

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.sensors.async_action import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AsyncActionSensor,
    WaitingCannotCure,
)
from airflow_provider_voucherify.triggers.async_action import AsyncActionTrigger
from airflow_provider_voucherify.waiting.verdict import Outcome, Summary, Verdict
from tests.waiting.emulators import (  # noqa: F401
    bad_order,
    order,
    queue_imports,
    run_test_dag,
    slow_emulator,
    slow_emulator_server,
)

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred


def sensor(**kwargs: Any) -> AsyncActionSensor:
    return AsyncActionSensor(task_id="wait", **{"async_action_ids": ["aa_1"], "poke_interval": 0.1, **kwargs})


def run_dag(queue: Callable[[], list[str]], ids: Any = None, **sensor_kwargs: Any) -> dict[str, Any]:
    """``dag.test()`` of queue >> AsyncActionSensor >> keep; what the sensor returned or raised.

    ``queue`` sends the imports inside the DAG run, so they are still queued when the sensor
    starts (Airflow's own start-up takes seconds). By default the sensor reads its XCom.
    """
    seen: dict[str, Any] = {}

    def on_failure(context: Any) -> None:
        seen["exception"] = context.get("exception")

    with DAG(f"test_sensor_{uuid.uuid4().hex[:8]}", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        queued = task(queue, task_id="queue")()
        wait = AsyncActionSensor(
            task_id="wait",
            async_action_ids=queued if ids is None else ids,
            poke_interval=0.2,
            on_failure_callback=on_failure,
            **sensor_kwargs,
        )

        @task
        def keep(summary: dict[str, Any]) -> None:
            seen["summary"] = summary

        queued >> wait
        keep(wait.output)
    run = run_test_dag(dag)
    seen["state"] = run.get_task_instance("wait").state
    seen["ids"] = run.get_task_instance("queue").xcom_pull(task_ids="queue")
    return seen


def failure_message(seen: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> str:
    """The exception the task failed with; from the task log where Airflow 3.1 does not pass it."""
    if seen.get("exception") is not None:
        return str(seen["exception"])
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_async_action_ids_is_the_templated_field() -> None:
    assert AsyncActionSensor.template_fields == ("async_action_ids", "voucherify_conn_id")


def test_a_negative_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="max_failed_orders"):
        sensor(max_failed_orders=-1)


SUMMARY = Summary(actions=["aa_1"], done_count=3)


@pytest.mark.parametrize(
    ("status", "soft_fail", "expected"),
    [
        (Outcome.SUCCESS, False, None),
        (Outcome.TIMEOUT, False, AirflowSensorTimeout),
        (Outcome.FAILED, False, AirflowFailException),
        (Outcome.ERROR, False, WaitingCannotCure),
        (Outcome.SUCCESS, True, None),
        (Outcome.TIMEOUT, True, AirflowSkipException),
        (Outcome.FAILED, True, AirflowSkipException),
        (Outcome.ERROR, True, WaitingCannotCure),
    ],
)
def test_each_trigger_event_resumes_into_its_outcome(
    status: Outcome, soft_fail: bool, expected: type[Exception] | None
) -> None:
    event = Verdict(status=status, message=f"it was {status.value}", summary=SUMMARY).to_event()
    waiting = sensor(soft_fail=soft_fail, deferrable=True)

    if expected is None:
        assert waiting.resume_execution("execute_complete", {"event": event}, {}) == SUMMARY.model_dump()
    else:
        with pytest.raises(expected):
            waiting.resume_execution("execute_complete", {"event": event}, {})


def finished_import(orders: list[dict[str, Any]]) -> str:
    """Import ``orders`` and wait until the action is final; its id."""
    hook = VoucherifyHook()
    action_id = hook.import_orders(orders)
    deadline = time.monotonic() + 30
    while not hook.get_async_action(action_id).status.is_final and time.monotonic() < deadline:
        time.sleep(0.05)  # poll interval while the emulator imports
    hook.close()
    return action_id


def test_deferrable_finished_at_the_first_poke_does_not_defer(slow_emulator: EmulatorServer) -> None:  # noqa: F811
    action_id = finished_import([order("o-1")])

    summary = sensor(async_action_ids=action_id, deferrable=True).execute({})

    assert summary == {"actions": [action_id], "done_count": 1, "failed_count": 0, "failed_orders": []}


@pytest.mark.parametrize(
    ("soft_fail", "expected"), [(False, AirflowFailException), (True, AirflowSkipException)]
)
def test_deferrable_failed_at_the_first_poke_fails_or_skips_without_deferring(
    slow_emulator: EmulatorServer,  # noqa: F811
    soft_fail: bool,
    expected: type[Exception],
) -> None:
    slow_emulator.set_faults(fail_imports=1)
    action_id = finished_import([order("o-1")])

    with pytest.raises(expected):
        sensor(async_action_ids=[action_id], deferrable=True, soft_fail=soft_fail).execute({})


def test_deferrable_defers_with_every_parameter_and_a_wall_clock_deadline(
    slow_emulator: EmulatorServer,  # noqa: F811
) -> None:
    slow_emulator.set_faults(hold_imports=True)  # unfinished at the first poke, however late it comes
    ids = queue_imports(2, orders_each=100)
    waiting = sensor(
        async_action_ids=ids, deferrable=True, poke_interval=45, timeout=3600, max_failed_orders=7
    )

    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute({})

    trigger = deferred.value.trigger
    assert isinstance(trigger, AsyncActionTrigger)
    assert deferred.value.method_name == "execute_complete"
    _, kwargs = trigger.serialize()
    assert kwargs["async_action_ids"] == ids
    assert (kwargs["poll_interval"], kwargs["max_failed_orders"]) == (45.0, 7)
    assert kwargs["end_time"] == pytest.approx(time.time() + 3600, abs=5)


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_waits_on_queued_imports_and_returns_the_summary(
    airflow_db: Any,
    slow_emulator: EmulatorServer,  # noqa: F811
    mode: str,
) -> None:
    kwargs = {"deferrable": True} if mode == "deferrable" else {"mode": mode, "deferrable": False}

    seen = run_dag(lambda: queue_imports(3, orders_each=20), timeout=60, **kwargs)

    assert seen["state"] == "success", seen.get("exception")
    assert seen["summary"] == {
        "actions": seen["ids"],
        "done_count": 60,
        "failed_count": 0,
        "failed_orders": [],
    }


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_a_failed_action_fails_the_task_naming_it_and_its_request_id(
    airflow_db: Any,
    slow_emulator: EmulatorServer,  # noqa: F811
    deferrable: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def queue() -> list[str]:
        good = queue_imports(1, prefix="before")
        slow_emulator.set_faults(fail_imports=1)
        return good + queue_imports(1, prefix="failing")

    seen = run_dag(queue, timeout=60, deferrable=deferrable)

    assert seen["state"] == "failed"
    assert f"Async action {seen['ids'][1]} FAILED (request_id=v-" in failure_message(seen, capsys)


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_a_done_import_with_failed_orders_fails_the_task_listing_them(
    airflow_db: Any,
    slow_emulator: EmulatorServer,  # noqa: F811
    deferrable: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def queue() -> list[str]:
        hook = VoucherifyHook()
        ids = queue_imports(1, orders_each=20, prefix="fine")
        ids.append(hook.import_orders([order("fine"), *(bad_order(f"bad-{n}") for n in range(25))]))
        hook.close()
        return ids

    seen = run_dag(queue, timeout=60, deferrable=deferrable, max_failed_orders=3)

    assert seen["state"] == "failed"
    message = failure_message(seen, capsys)
    assert "25 orders failed to import, more than max_failed_orders=3 (21 imported)" in message
    assert f"{seen['ids'][1]} (request_id=v-" in message
    assert "source_id=bad-0: Cannot find product with id prod_does_not_exist" in message
    assert "source_id=bad-19:" in message
    assert "source_id=bad-20:" not in message


def test_a_json_list_rendered_from_a_template_is_accepted(
    airflow_db: Any,
    slow_emulator: EmulatorServer,  # noqa: F811
) -> None:
    template = "{{ ti.xcom_pull(task_ids='queue') | tojson }}"

    seen = run_dag(lambda: queue_imports(2), ids=template, timeout=60)

    assert seen["state"] == "success", seen.get("exception")
    assert seen["summary"]["actions"] == seen["ids"]


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_soft_fail_skips_a_failed_wait(
    airflow_db: Any,
    slow_emulator: EmulatorServer,  # noqa: F811
    deferrable: bool,
) -> None:
    slow_emulator.set_faults(fail_imports=1)

    seen = run_dag(lambda: queue_imports(1), timeout=60, soft_fail=True, deferrable=deferrable)

    assert seen["state"] == "skipped"


def test_a_timeout_fails_the_wait_with_airflow_sensor_timeout(
    airflow_db: Any,
    slow_emulator: EmulatorServer,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 100 s of work at the emulator's speed, for a 1 s timeout: a wait first polled late on a busy
    # machine (Airflow 3.1's dag.test once took over 10 s to run the trigger) still finds it running;
    # the wiped emulator drops what is left.
    seen = run_dag(lambda: queue_imports(2, orders_each=2000), timeout=1, deferrable=True)

    assert seen["state"] == "failed"
    exception = seen.get("exception")
    if exception is None:  # Airflow 3.1: only the task log has it
        assert "AirflowSensorTimeout: Gave up waiting after" in failure_message(seen, capsys)
    else:
        assert isinstance(exception, AirflowSensorTimeout)
        assert str(exception).startswith("Gave up waiting after")
