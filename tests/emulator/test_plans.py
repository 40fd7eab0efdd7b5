"""Real-plan limits over HTTP: presets, calendar windows, organizations, the cycle quota, time scale."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from airflow_provider_voucherify.emulator.clock import EmulatedClock, cycle_end, window_end
from airflow_provider_voucherify.emulator.plans import PLANS, plan_limits
from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from tests.emulator.helpers import order, orders, post_import

BULK_PLANS = {name: limits for name, limits in PLANS.items() if limits.bulk_api_calls}


def test_calendar_windows_and_billing_cycles() -> None:
    assert window_end(3599.5, 3600) == 3600
    assert window_end(3600.0, 3600) == 7200
    assert window_end(61.0, 60) == 120
    june = datetime(2026, 6, 17, 13, 5, tzinfo=timezone.utc).timestamp()
    assert cycle_end(june) == datetime(2026, 7, 1, tzinfo=timezone.utc).timestamp()
    december = datetime(2026, 12, 31, 23, 59, tzinfo=timezone.utc).timestamp()
    assert cycle_end(december) == datetime(2027, 1, 1, tzinfo=timezone.utc).timestamp()


def test_emulated_clock_runs_scaled_and_converts_back() -> None:
    real = [1000.0]
    clock = EmulatedClock(600, real=lambda: real[0])
    real[0] = 1006.0
    assert clock.now() == 1000.0 + 3600
    assert clock.real_at(1000.0 + 7200) == 1012.0
    assert clock.real_seconds(3600) == 6.0
    with pytest.raises(ValueError, match="positive"):
        EmulatedClock(0)


def test_unknown_plan_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="sandbox"):
        plan_limits("enterprise")


@pytest.mark.parametrize("plan", sorted(BULK_PLANS))
def test_each_plan_allows_its_bulk_calls_per_hour(emulator: EmulatorServer, plan: str) -> None:
    # Calendar windows: the hour may turn while the test runs, so a refusal must come within
    # the preset's number of calls of a fresh window; allow one turn.
    emulator.set_faults(plan=plan)
    allowed = BULK_PLANS[plan].bulk_api_calls
    with emulator.client() as client:
        statuses = [
            client.post("/v1/orders/import", json=[order(f"{plan}-{n}")]).status_code
            for n in range(allowed + 1)
        ]
        limited = client.post("/v1/orders/import", json=[order(f"{plan}-last")])
    assert statuses[:allowed] == [200] * allowed
    assert 429 in (statuses[-1], limited.status_code)
    refused = limited if limited.status_code == 429 else None
    if refused is not None:
        assert refused.headers["x-rate-limit-type"] == "bulk_api_calls"
        assert refused.headers["x-rate-limit-limit"] == str(allowed)


def test_every_answer_carries_the_ordinary_budget(emulator: EmulatorServer) -> None:
    emulator.set_faults(plan="sandbox")
    with emulator.client() as client:
        answers = [
            client.get("/v1/async-actions"),
            client.post("/v1/orders/import", json=[order("s-1")]),
            client.get("/v1/orders/s-1"),
        ]
        refused = client.post("/v1/orders/import", json=[order("s-2")])
    assert [a.headers["x-rate-limit-limit"] for a in answers] == ["100"] * 3
    assert [a.headers["x-rate-limit-remaining"] for a in answers] == ["99", "98", "97"]
    assert refused.status_code == 429
    assert (refused.headers["x-rate-limit-type"], refused.headers["x-rate-limit-limit"]) == (
        "bulk_api_calls",
        "1",
    )
    retry_at = int(refused.headers["x-rate-limit-retry"])
    assert retry_at % 3600 == 0
    assert 0 < retry_at - time.time() <= 3600
    assert abs(int(refused.headers["retry-after"]) - (retry_at - time.time())) <= 2


def test_explicit_numbers_override_the_preset(emulator: EmulatorServer) -> None:
    body = emulator.set_faults(plan="startup", bulk_calls_per_hour=2, rate_limit_per_minute=50)
    effective = body["effective_rate_limits"]
    assert effective["bulk_api_calls_per_hour"] == 2
    assert (effective["api_calls"], effective["api_window_seconds"]) == (50, 60)
    assert effective["api_calls_per_cycle"] == 10_000


def test_billing_cycle_quota_refuses_until_the_cycle_ends(emulator: EmulatorServer) -> None:
    emulator.set_faults(plan="free", calls_per_cycle=3)
    with emulator.client() as client:
        statuses = [client.get("/v1/async-actions").status_code for _ in range(3)]
        refused = client.get("/v1/async-actions")
        bulk = client.post("/v1/orders/import", json=[order("c-1")])  # legacy: bulk calls not counted
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["x-rate-limit-type"] == "api_calls_cycle"
    assert int(refused.headers["x-rate-limit-retry"]) == cycle_end(time.time())
    assert bulk.status_code == 200


@pytest.fixture
def organization(tmp_path: Path) -> Iterator[EmulatorServer]:
    projects = tmp_path / "projects.json"
    projects.write_text(
        json.dumps(
            [
                {"app_id": "one", "app_token": "t1", "organization": "acme"},
                {"app_id": "two", "app_token": "t2", "organization": "acme"},
                {"app_id": "sandbox", "app_token": "t3", "organization": "acme", "plan": "sandbox"},
            ]
        )
    )
    with EmulatorServer(
        tmp_path, app_id="one", app_token="t1", projects_file=projects, plan="startup", rate_limit_per_hour=3
    ) as server:
        yield server


def test_projects_of_an_organization_share_its_budget(organization: EmulatorServer) -> None:
    def client(app_id: str, token: str) -> httpx.Client:
        return httpx.Client(base_url=organization.url, headers={"X-App-Id": app_id, "X-App-Token": token})

    with client("one", "t1") as one, client("two", "t2") as two, client("sandbox", "t3") as sandbox:
        # The hour may turn between calls: retry the sequence once in a fresh window.
        for _ in range(2):
            first = [one.get("/v1/orders").status_code for _ in range(2)]
            second = [two.get("/v1/orders").status_code for _ in range(2)]
            if first + second == [200, 200, 200, 429]:
                break
        assert first + second == [200, 200, 200, 429]
        # A project with its own plan counts on its own: the Sandbox's 100 calls per hour.
        own = sandbox.get("/v1/orders")
        assert (own.status_code, own.headers["x-rate-limit-limit"]) == (200, "100")


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """Startup plan at 600 emulated seconds per real second: an hour lasts 6 s."""
    with EmulatorServer(
        tmp_path_factory.mktemp("scaled"), plan="startup", time_scale=600, orders_per_second=0
    ) as server:
        yield server


def _until_accepted(client: httpx.Client, body: object, deadline_s: float) -> tuple[httpx.Response, float]:
    deadline = time.monotonic() + deadline_s
    while True:
        response = client.post("/v1/orders/import", json=body)
        if response.status_code != 429 or time.monotonic() > deadline:
            return response, time.time()
        time.sleep(0.01)  # poll interval


def test_time_scaled_windows_reopen_when_the_headers_say(scaled: EmulatorServer) -> None:
    scaled.reset()
    # Two real seconds before the end of an emulated hour, so that the wait for the next window
    # (the real-time wait the headers announce, which is the point) lasts about two seconds, not
    # whatever part of the hour was left. Eleven calls fit in them; if not, the loop below meets
    # the refusal in the next window instead.
    scaled.advance_clock_to_window_end(2 * 600)
    with scaled.client() as client:
        for n in range(21):  # 10 calls per window: a refusal even if a window ends meanwhile
            refused = client.post("/v1/orders/import", json=[order(f"w-{n}")])
            if refused.status_code == 429:
                break
        assert refused.status_code == 429
        assert refused.headers["x-rate-limit-type"] == "bulk_api_calls"
        retry_at = float(refused.headers["x-rate-limit-retry"])
        # Real-time equivalents with milliseconds: at most one emulated hour (6 s) away.
        assert 0 < retry_at - time.time() <= 6.0
        assert abs(float(refused.headers["retry-after"]) - (retry_at - time.time())) < 0.5
        accepted, at = _until_accepted(client, [order("w-next")], deadline_s=10)
        assert accepted.status_code == 200
        assert retry_at - 0.05 <= at <= retry_at + 1.5  # polled every 10 ms; a loaded machine is slow
        # A fresh window: exactly the plan's 10 bulk calls (the one above included).
        statuses = [client.post("/v1/orders/import", json=[order(f"x-{n}")]).status_code for n in range(10)]
    assert statuses == [200] * 9 + [429]


def test_import_speed_and_overhead_run_on_the_emulated_clock(tmp_path: Path) -> None:
    # 100 orders at 10 per emulated second plus 300 s of overhead: 310 emulated s, 3.1 real s.
    with EmulatorServer(tmp_path, orders_per_second=10, time_scale=100, import_overhead=300) as server:
        with server.client() as client:
            started = time.monotonic()
            action_id = post_import(client, orders("speed", 100))
            time.sleep(0.25)  # inside the overhead: nothing processed yet
            early = client.get(f"/v1/async-actions/{action_id}").json()
        action = wait_for_actions(server, [action_id])[action_id]
        elapsed = time.monotonic() - started
    assert (early["status"], early["progress"]) == ("IN_PROGRESS", 0)
    assert action["result"]["done_count"] == 100
    assert 3.05 <= elapsed <= 10.0


def test_bulk_customer_updates_share_the_queue_the_list_and_the_bulk_budget(emulator: EmulatorServer) -> None:
    emulator.set_faults(bulk_calls_per_hour=2)
    customers = [{"source_id": f"c-{n}", "name": f"Customer {n}"} for n in range(50)]
    with emulator.client() as client:
        update = client.post("/v1/customers/bulk/async", json=customers)
        assert update.status_code == 200, update.text
        update_id = update.json()["async_action_id"]
        import_id = post_import(client, [order("after-update")])
        refused = client.post("/v1/customers/bulk/async", json=customers[:1])
        listed = client.get("/v1/async-actions").json()["async_actions"]
        bad = client.post("/v1/customers/bulk/async", json=[{"name": "no source id"}])
    assert refused.status_code == 429
    assert refused.headers["x-rate-limit-type"] == "bulk_api_calls"
    assert bad.status_code == 429  # the bulk budget is spent before the body is even read
    assert [(a["id"], a["type"]) for a in listed] == [
        (import_id, "ORDERS.IMPORT"),
        (update_id, "CUSTOMERS.BULK_UPDATE"),
    ]
    done = wait_for_actions(emulator, [update_id, import_id])
    assert done[update_id]["result"]["done_count"] == 50
    assert done[update_id]["result"]["reports"] == []
    assert done[import_id]["result"]["done_count"] == 1
    with emulator.client() as client:
        assert client.get("/v1/customers/c-7").json()["name"] == "Customer 7"
    stats = emulator.stats()
    assert (stats["imports_accepted"], stats["orders_received"]) == (1, 1)  # order counters only


def test_bulk_customer_update_validates_its_body(emulator: EmulatorServer) -> None:
    with emulator.client() as client:
        bad = client.post("/v1/customers/bulk/async", json=[{"name": "no source id"}])
    assert bad.status_code == 400
    assert bad.json()["details"] == "Property [0].source_id is required"
