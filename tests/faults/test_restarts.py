"""Fault matrix, restarts: the emulator crashing mid-queue under a waiting sensor, and a trigger
re-created from its serialized form mid-wait (as after a triggerer restart)."""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor
from airflow_provider_voucherify.waiting.verdict import Outcome, Verdict
from tests.airflow_helpers import LogLines, point_connection
from tests.faults.matrix import ALL_SOURCE_IDS, BATCHES, ORDERS, Case, import_operator, run_task

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred

# Slow enough that the matrix's imports stay queued for about two seconds.
ORDERS_PER_SECOND = 3000


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(
        tmp_path_factory.mktemp("slow-fault-emulator"), orders_per_second=ORDERS_PER_SECOND
    ) as server:
        yield server


@pytest.fixture
def server(slow_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    slow_server.start()  # in case a test left it stopped
    slow_server.reset()
    point_connection(monkeypatch, slow_server, timeout=2, max_retries=8, retry_backoff=0.05)
    return slow_server


def poll_until(condition: Any, what: str, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)  # poll interval


def met_outage(log: LogLines) -> bool:
    """Whether the hook logged a call that found no server (its retry warning)."""
    return any("failed (ConnectError)" in line for line in log.messages)


def polls(server: EmulatorServer) -> int:
    """``GET /v1/async-actions...`` requests answered so far (since the last start or reset)."""
    routes = server.stats()["requests"]
    return sum(
        sum(routes.get(route, {}).values())
        for route in ("GET /v1/async-actions", "GET /v1/async-actions/{id}")
    )


# -- 5. the emulator crashes and restarts mid-queue -------------------------------------------


def test_a_sensor_carries_on_through_an_emulator_crash_mid_queue(
    server: EmulatorServer, orders_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = Case("emulator killed + restarted mid-queue")
    # The hook's retry warnings, read from a logger of the test's own: where Airflow sends a hook's
    # log outside a task run depends on what earlier tests of the same worker set up.
    log = LogLines()
    monkeypatch.setattr(VoucherifyHook, "log", property(lambda _: log.logger))
    # Held until the sensor polls: on a slow machine the queue would finish while the batches are
    # still being sent. Released, it has 2 s of work left to be killed in (the restart drops the hold).
    server.set_faults(hold_imports=True)
    ids = run_task(import_operator(orders_path))
    sensor = AsyncActionSensor(task_id="wait", async_action_ids=ids, poke_interval=0.05, timeout=120)
    outcome: dict[str, Any] = {}

    def wait() -> None:
        try:
            outcome["summary"] = sensor.execute({})  # type: ignore[arg-type]
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    waiting = threading.Thread(target=wait, daemon=True)
    waiting.start()
    poll_until(lambda: polls(server) > 0, "the sensor to poll")
    server.clear_faults()
    poll_until(lambda: server.stats()["orders_stored"] > 0, "the import to be under way")
    stored_before = server.stats()["orders_stored"]
    assert stored_before < ORDERS, "the queue should still be running when the emulator dies"
    server.kill()  # SIGKILL: a crash, not a shutdown
    # Down until the sensor has met the outage: its polls are planned from the imports' progress,
    # not made every poke_interval, so a quick restart could fall between two of them (one full run
    # in about ten: the sensor finished without ever seeing the emulator down).
    poll_until(lambda: met_outage(log), "the sensor to meet the outage")
    server.restart()
    waiting.join(120)

    assert not waiting.is_alive()
    assert "error" not in outcome, outcome.get("error")
    summary = outcome["summary"]
    assert (summary["done_count"], summary["failed_count"]) == (ORDERS, 0)
    assert met_outage(log), "the sensor should have met the outage"
    case.outcome = "success (sensor)"
    case.note = f"killed at {stored_before} orders stored; queue resumed"
    case.record(server, ALL_SOURCE_IDS)


# -- 7. the trigger re-created from its serialized form mid-wait ------------------------------


def test_a_trigger_rebuilt_mid_wait_keeps_its_deadline_and_outcome(
    server: EmulatorServer, orders_path: Path
) -> None:
    case = Case("trigger rebuilt mid-wait")
    operator = import_operator(
        orders_path, wait_for_completion=True, deferrable=True, poll_interval=0.05, timeout=120
    )
    # The queue starts nothing until the first triggerer is gone: the task must defer, and the
    # wait must still be running when it is interrupted, however slowly this machine runs.
    server.set_faults(hold_imports=True)
    with pytest.raises(TaskDeferred) as deferred:
        run_task(operator)
    first = deferred.value.trigger
    stored = json.dumps(first.serialize())  # what the metadata DB keeps for the triggerer

    async def interrupted_then_rebuilt() -> tuple[Any, list[Any]]:
        # The first triggerer polls for a while, then dies mid-wait.
        running = asyncio.ensure_future(first.run().__anext__())
        while await asyncio.to_thread(polls, server) < 2:
            assert not running.done(), "the wait ended before it could be interrupted"
            await asyncio.sleep(0.02)  # poll interval
        assert not running.done()
        assert (await asyncio.to_thread(server.stats))["orders_stored"] == 0
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await asyncio.to_thread(server.clear_faults)
        # Another triggerer rebuilds it from the stored form and waits to the end.
        classpath, kwargs = json.loads(stored)
        module, name = classpath.rsplit(".", 1)
        rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
        return rebuilt, [event async for event in rebuilt.run()]

    rebuilt, events = asyncio.run(interrupted_then_rebuilt())

    assert rebuilt.end_time == first.end_time
    assert rebuilt.serialize() == first.serialize()
    assert len(events) == 1
    verdict = Verdict.from_event(events[0].payload)
    assert verdict.status is Outcome.SUCCESS, verdict.message
    assert verdict.summary is not None
    assert verdict.summary.done_count == ORDERS
    # The task resumes in execute_complete with the event, as Airflow would call it.
    ids = operator.execute_complete({}, events[0].payload, **deferred.value.kwargs)  # type: ignore[arg-type]
    assert len(ids) == BATCHES
    case.outcome = "success (deferred)"
    case.note = "same end_time after JSON round trip; one event"
    case.record(server, ALL_SOURCE_IDS)
