"""The per-project import queue: one import at a time, in order, with rising progress; durable."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from tests.emulator.helpers import order, orders, post_import


@pytest.fixture(scope="module")
def slow_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """50 orders per second: a 100-order import takes two seconds, long enough to watch."""
    with EmulatorServer(tmp_path_factory.mktemp("slow-emulator"), orders_per_second=50) as server:
        yield server


def test_imports_run_one_at_a_time_in_order(slow_emulator: EmulatorServer) -> None:
    slow_emulator.reset()
    with slow_emulator.client() as client:
        # 2 s each: every state lasts long enough to be seen on a slow machine.
        first = post_import(client, orders("first", 100))
        second = post_import(client, orders("second", 100))
        snapshots: list[dict[str, tuple[str, int]]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # One list call is one consistent snapshot of both actions.
            listed = client.get("/v1/async-actions", params={"limit": 2}).json()["async_actions"]
            snapshots.append({action["id"]: (action["status"], action["progress"]) for action in listed})
            if all(status == "DONE" for status, _ in snapshots[-1].values()):
                break
            time.sleep(0.02)
        actions = wait_for_actions(slow_emulator, [first, second], deadline_s=1)
    statuses = [(snapshot[first][0], snapshot[second][0]) for snapshot in snapshots]
    assert ("IN_PROGRESS", "IN_PROGRESS") not in statuses
    assert ("IN_PROGRESS", "ENQUEUED") in statuses
    assert ("DONE", "IN_PROGRESS") in statuses
    # The second never started before the first finished.
    assert all(
        first_status == "DONE" for first_status, second_status in statuses if second_status != "ENQUEUED"
    )
    progress = [snapshot[first][1] for snapshot in snapshots if snapshot[first][0] == "IN_PROGRESS"]
    assert any(0 < value < 100 for value in progress)
    assert progress == sorted(progress)
    assert all(snapshot[second][1] == 0 for snapshot in snapshots if snapshot[second][0] == "ENQUEUED")
    assert actions[first]["updated_at"] <= actions[second]["updated_at"]
    assert actions[first]["processing_time"] >= 1900  # 100 orders at 50 per second


def test_an_import_takes_the_configured_speed(slow_emulator: EmulatorServer) -> None:
    slow_emulator.reset()
    started = time.monotonic()
    with slow_emulator.client() as client:
        action_id = post_import(client, orders("timed", 50))
    wait_for_actions(slow_emulator, [action_id])
    assert time.monotonic() - started >= 0.9  # 50 orders at 50 per second


def test_accepted_imports_survive_a_crash_and_the_queue_resumes(tmp_path: Path) -> None:
    # 10 orders without a source_id would be created twice if the interrupted import were re-applied.
    first_import = [order(None) for _ in range(10)] + orders("crash-a", 90)
    with EmulatorServer(tmp_path, orders_per_second=100) as server:
        with server.client() as client:
            ids = [post_import(client, first_import)] + [
                post_import(client, orders(f"crash-{n}", 100)) for n in "bc"
            ]
            deadline = time.monotonic() + 30
            while client.get(f"/v1/async-actions/{ids[0]}").json()["progress"] < 20:
                assert time.monotonic() < deadline, "the first import never progressed"
                time.sleep(0.02)
        server.kill()  # SIGKILL: no shutdown code runs
        server.restart(orders_per_second=0)
        actions = wait_for_actions(server, ids)
        assert [actions[action_id]["status"] for action_id in ids] == ["DONE"] * 3
        assert [actions[action_id]["result"]["done_count"] for action_id in ids] == [100] * 3
        stats = server.stats()
        assert (stats["imports_accepted"], stats["orders_received"], stats["orders_stored"]) == (3, 300, 300)


def test_graceful_restart_keeps_data_and_request_counts(tmp_path: Path) -> None:
    with EmulatorServer(tmp_path, orders_per_second=0) as server:
        with server.client() as client:
            action_id = post_import(client, [order("kept")])
        wait_for_actions(server, [action_id])
        server.restart()
        with server.client() as client:
            assert client.get("/v1/orders/kept").status_code == 200
        requests = server.stats()["requests"]
        assert requests["POST /v1/orders/import"] == {"200": 1}
        assert requests["GET /v1/orders/{id}"] == {"200": 1}


def test_reset_abandons_the_running_import(slow_emulator: EmulatorServer) -> None:
    slow_emulator.reset()
    with slow_emulator.client() as client:
        running = post_import(client, orders("abandoned", 100))
        deadline = time.monotonic() + 30
        while client.get(f"/v1/async-actions/{running}").json()["status"] != "IN_PROGRESS":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        slow_emulator.reset()
        assert client.get(f"/v1/async-actions/{running}").status_code == 404
        fresh = post_import(client, orders("fresh", 5))
        assert wait_for_actions(slow_emulator, [fresh])[fresh]["result"]["done_count"] == 5
        sources = {o["source_id"] for o in client.get("/v1/orders", params={"limit": 100}).json()["orders"]}
    assert sources == {f"fresh-{index}" for index in range(5)}


def test_a_held_queue_starts_nothing_until_released(slow_emulator: EmulatorServer) -> None:
    """``hold_imports``: what a test sets to see a wait in progress however late it looks."""
    slow_emulator.reset()
    with slow_emulator.client() as client:
        running = post_import(client, orders("running", 25))
        while client.get(f"/v1/async-actions/{running}").json()["status"] == "ENQUEUED":
            pass  # the worker starts it within milliseconds
        slow_emulator.set_faults(hold_imports=True)
        held = post_import(client, orders("held", 5))
        # Not started while the running import finishes and long after (at 50 orders per second
        # these 5 orders would be stored in 0.1 s): a started import is never held back.
        assert wait_for_actions(slow_emulator, [running])[running]["status"] == "DONE"
        for _ in range(50):
            action = client.get(f"/v1/async-actions/{held}").json()
            assert (action["status"], action["progress"]) == ("ENQUEUED", 0)
        slow_emulator.clear_faults()
        assert wait_for_actions(slow_emulator, [held])[held]["result"]["done_count"] == 5
