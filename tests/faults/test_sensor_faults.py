"""Fault matrix, the sensor's side: a 429 storm on the calls that wait for the imports.

The batches are imported first (no limit), then the API allows 2 ordinary calls per one-second
window and the hook gives up on a 429 at once (``max_rate_limit_wait=0``), so every 429 reaches
the waiting planner: it sleeps until the window reopens and polls again, in the worker (poke
mode) and in the trigger (deferrable). The wait succeeds and every order is stored once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor, WaitingCannotCure
from airflow_provider_voucherify.triggers.async_action import AsyncActionTrigger
from airflow_provider_voucherify.waiting import pacing
from tests.airflow_helpers import point_connection
from tests.faults.matrix import ALL_SOURCE_IDS, BATCHES, ORDERS, Case, import_operator, run_task

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred

POLLS = ("GET /v1/async-actions", "GET /v1/async-actions/{id}")


def limited(server: EmulatorServer) -> int:
    requests = server.stats()["requests"]
    return sum(int(requests.get(route, {}).get("429", 0)) for route in POLLS)


def wait(sensor: AsyncActionSensor) -> dict[str, Any]:
    """Run the sensor as a worker and a triggerer would: poke mode at once, or defer and resume."""
    context: Any = {}
    try:
        summary: dict[str, Any] = sensor.execute(context)
        return summary
    except TaskDeferred as deferred:
        trigger = deferred.trigger
        assert isinstance(trigger, AsyncActionTrigger)

        async def first_event() -> dict[str, Any]:
            async for event in trigger.run():
                return dict(event.payload)
            raise AssertionError("the trigger ended without an event")

        return sensor.execute_complete(context, asyncio.run(first_event()))


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_a_429_storm_on_the_sensor_calls_is_waited_out(
    deferrable: bool, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, orders_path: Path
) -> None:
    mode = "deferrable" if deferrable else "poke"
    case = Case(f"429 storm on the sensor's calls ({mode})")
    point_connection(monkeypatch, emulator, max_rate_limit_wait=0)
    ids = run_task(import_operator(orders_path))
    emulator.set_faults(rate_limit_per_minute=2, retry_after_seconds=1)
    # The budget's window is the fault's second, not a plan's minute or hour.
    monkeypatch.setattr(pacing, "ASSUMED_WINDOW", 1.0)

    started = time.monotonic()
    summary = wait(
        AsyncActionSensor(
            task_id="wait", async_action_ids=ids, poke_interval=0.05, timeout=120, deferrable=deferrable
        )
    )
    elapsed = time.monotonic() - started

    storm = limited(emulator)
    assert storm >= 2, "the rate limit should have been met more than once"
    assert summary["done_count"] == ORDERS
    assert summary["actions"] == ids
    case.outcome = "success"
    case.note = f"{storm} x 429 on GET async-actions, waited out in {elapsed:.1f} s"
    case.record(emulator, ALL_SOURCE_IDS, batches=BATCHES)


@pytest.mark.parametrize("where", ["around", "inside"])
def test_a_token_with_a_newline_under_a_deferrable_soft_fail_sensor_is_never_a_skip(
    where: str, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, orders_path: Path
) -> None:
    case = Case(f"token with a newline {where}, deferrable sensor with soft_fail")
    point_connection(monkeypatch, emulator)
    ids = run_task(import_operator(orders_path))
    token = emulator.app_token
    point_connection(
        monkeypatch, emulator, password=f"{token}\n" if where == "around" else f"{token[:4]}\n{token[4:]}"
    )
    sensor = AsyncActionSensor(
        task_id="wait", async_action_ids=ids, poke_interval=0.05, timeout=120, deferrable=True, soft_fail=True
    )

    if where == "around":
        assert wait(sensor)["done_count"] == ORDERS
        case.outcome, case.note = "success", "the newline stripped with a warning"
    else:
        with pytest.raises(WaitingCannotCure, match="App Token"):
            wait(sensor)
        case.outcome, case.note = "failed at once", "not skipped, nothing sent with the token"
    case.record(emulator, ALL_SOURCE_IDS, batches=BATCHES)
