"""Fault injection: failing, slow and dropped answers, failed imports; repeatable with a seed."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from tests.emulator.helpers import import_and_wait, order, post_import


def statuses(server: EmulatorServer, count: int) -> list[int]:
    with server.client() as client:
        return [client.get("/v1/async-actions").status_code for _ in range(count)]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_error_faults_answer_without_processing(emulator: EmulatorServer, status: int) -> None:
    emulator.set_faults(error_rate=1.0, error_statuses=[status])
    with emulator.client() as client:
        response = client.post("/v1/orders/import", json=[order("never")])
    assert response.status_code == status
    if status == 502:
        assert response.headers["content-type"].startswith("text/html")  # like a gateway's page
    else:
        assert response.json()["code"] == status
    stats = emulator.stats()
    assert stats["imports_accepted"] == 0
    assert stats["requests"]["POST /v1/orders/import"] == {str(status): 1}


def test_same_seed_gives_the_same_faults(emulator: EmulatorServer) -> None:
    emulator.set_faults(error_rate=0.5, seed=42)
    first = statuses(emulator, 40)
    emulator.set_faults(error_rate=0.5, seed=42)
    again = statuses(emulator, 40)
    emulator.set_faults(error_rate=0.5, seed=43)
    other = statuses(emulator, 40)
    assert first == again
    assert first != other
    assert 5 < sum(status != 200 for status in first) < 35
    assert set(first) <= {200, 500, 502, 503}


def test_latency_delays_api_calls_but_not_controls(emulator: EmulatorServer) -> None:
    emulator.set_faults(latency_seconds=0.3)
    started = time.monotonic()
    emulator.stats()
    assert time.monotonic() - started < 0.3
    with emulator.client() as client:
        started = time.monotonic()
        assert client.get("/v1/async-actions").status_code == 200
        assert time.monotonic() - started >= 0.3


def test_a_dropped_answer_was_still_processed(emulator: EmulatorServer) -> None:
    emulator.set_faults(drop_rate=1.0, paths=["/v1/orders/import"])
    with emulator.client() as client:
        with pytest.raises(httpx.TransportError):
            client.post("/v1/orders/import", json=[order("dropped")])
        # Other paths are untouched.
        assert client.get("/v1/async-actions").status_code == 200
    emulator.clear_faults()
    with emulator.client() as client:
        listed = client.get("/v1/async-actions").json()["async_actions"]
    assert len(listed) == 1
    action = wait_for_actions(emulator, [listed[0]["id"]])[listed[0]["id"]]
    assert action["status"] == "DONE"
    stats = emulator.stats()
    assert (stats["imports_accepted"], stats["dropped_responses"]) == (1, 1)


def test_fail_imports_ends_the_next_imports_failed(emulator: EmulatorServer) -> None:
    emulator.set_faults(fail_imports=1)
    failed = import_and_wait(emulator, [order("whole-1")])
    done = import_and_wait(emulator, [order("whole-2")])
    assert failed["status"] == "FAILED"
    assert failed["result"]["message"]
    assert done["status"] == "DONE"
    assert emulator.stats()["orders_stored"] == 1
    assert emulator.set_faults()["fail_imports_remaining"] == 0


def test_faults_can_target_paths(emulator: EmulatorServer) -> None:
    emulator.set_faults(error_rate=1.0, error_statuses=[503], paths=["/v1/async-actions/{id}"])
    with emulator.client() as client:
        action_id = post_import(client, [order("targeted")])
        assert client.get(f"/v1/async-actions/{action_id}").status_code == 503
        assert client.get("/v1/async-actions").status_code == 200


def test_controls_are_never_faulted_and_reset_clears_faults(emulator: EmulatorServer) -> None:
    emulator.set_faults(error_rate=1.0, drop_rate=1.0, latency_seconds=0.01)
    assert emulator.stats()["total_requests"] == 0
    emulator.reset()
    with httpx.Client(base_url=emulator.url) as raw:
        faults = raw.get("/_emulator/faults").json()
        assert (faults["error_rate"], faults["drop_rate"], faults["latency_seconds"]) == (0.0, 0.0, 0.0)
        assert raw.post("/_emulator/faults", json={"error_rate": 2}).status_code == 422
        assert raw.post("/_emulator/faults", json={"no_such_fault": 1}).status_code == 422
    assert statuses(emulator, 3) == [200, 200, 200]


def test_fault_flags_apply_from_start(tmp_path: Path) -> None:
    flags = {"fault_error_rate": 1.0, "fault_seed": 3, "fault_latency": 0.05, "orders_per_second": 0}
    with EmulatorServer(tmp_path, **flags) as server:
        faults = httpx.get(f"{server.url}/_emulator/faults").json()
        assert (faults["error_rate"], faults["seed"], faults["latency_seconds"]) == (1.0, 3, 0.05)
        assert all(status >= 500 for status in statuses(server, 3))


def test_refusals_of_a_large_body_reach_the_client(emulator: EmulatorServer) -> None:
    big = [order(f"big-{index}", metadata={"padding": "x" * 3000}) for index in range(1500)]
    emulator.set_faults(error_rate=1.0, error_statuses=[503])
    with emulator.client() as client:
        assert client.post("/v1/orders/import", json=big).status_code == 503
    emulator.clear_faults()
    with httpx.Client(base_url=emulator.url) as anonymous:
        assert anonymous.post("/v1/orders/import", json=big).status_code == 401


def test_html_page_answers_200_with_a_web_page_before_authenticating(emulator: EmulatorServer) -> None:
    emulator.set_faults(html_page=True, paths=["/v1/async-actions"])
    with httpx.Client(base_url=emulator.url) as anonymous:
        page = anonymous.get("/v1/async-actions")
    with emulator.client() as client:
        other = client.get("/v1/async-actions/aa_1")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert b"<title>Voucherify Dashboard</title>" in page.content
    assert other.status_code == 404  # a path the fault does not name is the API's
    assert emulator.stats()["requests"]["GET /v1/async-actions"] == {"200": 1}
