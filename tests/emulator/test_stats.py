"""``GET /_emulator/stats``: what tests count API calls and imported orders with."""

from __future__ import annotations

import time

import httpx

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from tests.emulator.helpers import order, orders, post_import


def test_stats_count_requests_per_route_and_status(emulator: EmulatorServer) -> None:
    with emulator.client() as client:
        first = post_import(client, orders("s", 3))
        client.post("/v1/orders/import", json=[{"amount": "x"}])
        # Read the import until it is done (so its orders can be read back), counting the reads.
        deadline, reads = time.monotonic() + 30, 0
        while True:
            reads += 1
            if client.get(f"/v1/async-actions/{first}").json()["status"] == "DONE":
                break
            assert time.monotonic() < deadline, "the import never finished"
            time.sleep(0.05)
        client.get("/v1/async-actions/aa_missing")
        client.get("/v1/async-actions", params={"limit": 5})
        client.get("/v1/orders/s-0")
    with httpx.Client(base_url=emulator.url) as anonymous:
        anonymous.get("/v1/orders")
    stats = emulator.stats()
    assert stats["requests"] == {
        "POST /v1/orders/import": {"200": 1, "400": 1},
        "GET /v1/async-actions/{id}": {"200": reads, "404": 1},
        "GET /v1/async-actions": {"200": 1},
        "GET /v1/orders/{id}": {"200": 1},
        "GET /v1/orders": {"401": 1},
    }
    assert stats["total_requests"] == 6 + reads
    emulator.stats()  # control calls are not counted
    assert emulator.stats()["total_requests"] == 6 + reads


def test_stats_count_orders_and_duplicate_payloads(emulator: EmulatorServer) -> None:
    batch = orders("d", 4)
    with emulator.client() as client:
        ids = [
            post_import(client, batch),
            post_import(client, batch),  # the very same batch again
            post_import(client, [*orders("d", 2), order("e-1"), order(None)]),
        ]
    wait_for_actions(emulator, ids)
    stats = emulator.stats()
    assert stats["imports_accepted"] == 3
    assert stats["orders_received"] == 12
    assert stats["distinct_source_ids_received"] == 5
    assert stats["orders_stored"] == 6
    assert stats["duplicate_payloads"] == 1
    assert stats["projects"]["emulator-app-id"]["duplicate_payloads"] == 1


def test_reset_wipes_data_and_counts(emulator: EmulatorServer) -> None:
    with emulator.client() as client:
        action_id = post_import(client, orders("r", 2))
    wait_for_actions(emulator, [action_id])
    emulator.reset()
    stats = emulator.stats()
    assert (stats["total_requests"], stats["imports_accepted"], stats["orders_stored"]) == (0, 0, 0)
    with emulator.client() as client:
        assert client.get(f"/v1/async-actions/{action_id}").status_code == 404
