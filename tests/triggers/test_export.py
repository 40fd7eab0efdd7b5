"""ExportTrigger over real HTTP: serialization, its one event, and its wait on a fake clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.triggers.export import CLASSPATH, ExportTrigger
from airflow_provider_voucherify.waiting.exports import ExportsWaited
from tests.airflow_helpers import point_connection

START = 1_900_000_000.0


class FakeClock:
    """Epoch seconds that move only when the trigger sleeps (at once)."""

    def __init__(self) -> None:
        self.now = START
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def export_of(server: EmulatorServer) -> str:
    with server.client() as client:
        response = client.post("/v1/exports", json={"exported_object": "order", "parameters": {}})
        response.raise_for_status()
        return str(response.json()["id"])


def waited(trigger: ExportTrigger) -> ExportsWaited:
    """The trigger's only event, read back."""

    async def events() -> list[Any]:
        return [event.payload async for event in trigger.run()]

    payloads = asyncio.run(events())
    assert len(payloads) == 1, payloads
    return ExportsWaited.from_event(payloads[0])


def polls(server: EmulatorServer) -> dict[str, int]:
    return server.stats()["requests"].get("GET /v1/exports/{id}", {})


def test_serialize_gives_the_classpath_and_primitive_kwargs_it_is_rebuilt_from() -> None:
    trigger = ExportTrigger(["exp_1", "exp_2"], "my_conn", 15, 1_900_000_000.5, api_budget_share=0.5)

    classpath, kwargs = trigger.serialize()

    assert classpath == CLASSPATH == f"{ExportTrigger.__module__}.{ExportTrigger.__name__}"
    assert kwargs == {
        "export_ids": ["exp_1", "exp_2"],
        "voucherify_conn_id": "my_conn",
        "poll_interval": 15.0,
        "end_time": 1_900_000_000.5,
        "api_budget_share": 0.5,
    }
    assert ExportTrigger(**json.loads(json.dumps(kwargs))).serialize() == (classpath, kwargs)


@pytest.fixture(params=["unlimited"])
def never_done(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorServer]:
    """Exports that stay SCHEDULED (for a day), on the plan ``request.param`` names."""
    with EmulatorServer(tmp_path, orders_per_second=0, export_overhead=86400, plan=request.param) as server:
        point_connection(monkeypatch, server)
        yield server


def test_on_a_fake_clock_the_polls_double_their_gap_until_the_deadline(never_done: EmulatorServer) -> None:
    clock = FakeClock()
    trigger = ExportTrigger([export_of(never_done)], "voucherify_default", 10, START + 100)
    trigger.clock, trigger.sleep = clock, clock.sleep

    end = waited(trigger)

    assert (end.status, end.statuses) == ("timeout", {trigger.export_ids[0]: "SCHEDULED"})
    assert clock.slept == [10, 10, 20, 40, 20]  # polls at 10, 20, 40 and 80 s; the deadline at 100 s
    assert polls(never_done) == {"200": 4}


@pytest.mark.parametrize("never_done", ["sandbox"], indirect=True)
def test_on_a_fake_clock_the_polls_keep_to_their_share_of_the_plan(never_done: EmulatorServer) -> None:
    # The Sandbox's 100 calls an hour, 20 % of them for the wait: one poll per 180 s at most.
    clock = FakeClock()
    trigger = ExportTrigger([export_of(never_done)], "voucherify_default", 1, START + 1000)
    trigger.clock, trigger.sleep = clock, clock.sleep

    end = waited(trigger)

    assert end.status == "timeout"
    assert polls(never_done) == {"200": 6}  # at 1, 181, 361, 541, 721 and 901 s
    assert sum(clock.slept) == pytest.approx(1000)


@pytest.fixture
def server(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    point_connection(monkeypatch, emulator)
    return emulator


def test_an_export_that_ends_done_fires_success(server: EmulatorServer) -> None:
    export_id = export_of(server)
    end = waited(ExportTrigger([export_id], "voucherify_default", 0.05, START * 2))

    assert (end.status, end.statuses) == ("success", {export_id: "DONE"})


@pytest.mark.parametrize("final", ["ERROR", "EXPIRED"])
def test_an_export_that_ends_otherwise_fires_failed_naming_it(server: EmulatorServer, final: str) -> None:
    server.set_faults(export_status=final)
    export_id = export_of(server)

    end = waited(ExportTrigger([export_id], "voucherify_default", 0.05, START * 2))

    assert end.status == "failed"
    assert end.message == f"Export {export_id} ended {final}, not DONE"


def test_an_unknown_export_fires_an_error_at_once(server: EmulatorServer) -> None:
    end = waited(ExportTrigger(["exp_unknown"], "voucherify_default", 0.05, START * 2))

    assert end.status == "error"
    assert "404" in end.message
