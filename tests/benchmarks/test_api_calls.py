"""API calls: what importing N orders and waiting for them costs, against the least it could cost.

Plans allow about 100 calls a minute, so every call counts. The minimum for N orders is
``ceil(N / 2000)`` imports plus one ``GET /v1/async-actions/{id}`` per action once it is final (only
that answer carries the result). Waiting also costs at least one call per poll cycle, so the target
is ``calls <= 1.1 x minimum + poll cycles``.

Side by side: the provider (``ImportOrdersOperator`` with ``wait_for_completion=True``, polling in
the worker) and the loop a user would write (the floor's imports, then ``GET`` every unfinished
action each cycle), at the same poll interval against the same emulator speed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.waiting import runners as waiting
from tests.benchmarks._orders import write_orders
from tests.benchmarks._report import record
from tests.benchmarks._runners import floor, provider

pytestmark = pytest.mark.bench

ORDERS = 50_000
POLL_INTERVAL = 0.5
# Slow enough that waiting takes several poll cycles after the last import is accepted.
ORDERS_PER_SECOND = 5000
IMPORT = "POST /v1/orders/import"
LIST = "GET /v1/async-actions"
GET = "GET /v1/async-actions/{id}"


@pytest.fixture(scope="module")
def paced_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(
        tmp_path_factory.mktemp("calls-emulator"), orders_per_second=ORDERS_PER_SECOND
    ) as server:
        yield server


def calls(server: EmulatorServer) -> dict[str, int]:
    requests = server.stats()["requests"]
    return {route: sum(requests.get(route, {}).values()) for route in (IMPORT, LIST, GET)}


def naive_wait(server: EmulatorServer, ids: list[str], poll_interval: float) -> int:
    """GET every unfinished action each cycle until all are final; returns the cycles."""
    pending, cycles = list(ids), 0
    with server.client() as client:
        while pending:
            cycles += 1
            for action_id in list(pending):
                response = client.get(f"/v1/async-actions/{action_id}")
                response.raise_for_status()
                if response.json()["status"] in ("DONE", "FAILED"):
                    pending.remove(action_id)
            if pending:
                time.sleep(poll_interval)
    return cycles


def test_api_calls_to_import_and_wait(
    paced_emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = paced_emulator
    orders = write_orders(tmp_path / "orders-50k.jsonl", ORDERS, prefix="calls")
    actions = math.ceil(ORDERS / 2000)
    minimum = actions + actions

    cycles = 0
    poll_once = waiting.poll_once

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal cycles
        cycles += 1
        return poll_once(*args, **kwargs)

    monkeypatch.setattr(waiting, "poll_once", counted)
    server.reset()
    started = time.perf_counter()
    ids = provider(server, orders, wait_for_completion=True, deferrable=False, poll_interval=POLL_INTERVAL)
    waited = time.perf_counter() - started
    spent = calls(server)
    assert len(ids) == actions
    assert server.stats()["orders_stored"] == ORDERS
    total = sum(spent.values())
    record(
        "api calls",
        f"provider: import {ORDERS:,} orders + wait (poll {POLL_INTERVAL} s)",
        f"{total} calls = {spent[IMPORT]} imports + {spent[LIST]} list + {spent[GET]} GET by id; "
        f"{cycles} poll cycles in {waited:.0f} s; minimum {minimum}",
        f"<= 1.1 x {minimum} + {cycles} = {1.1 * minimum + cycles:.0f}",
        total <= 1.1 * minimum + cycles,
    )

    server.reset()
    started = time.perf_counter()
    ids = floor(server, orders)
    naive_cycles = naive_wait(server, ids, POLL_INTERVAL)
    waited = time.perf_counter() - started
    spent = calls(server)
    total = sum(spent.values())
    record(
        "api calls",
        "hand-written loop: same imports, GET each unfinished action per cycle",
        f"{total} calls = {spent[IMPORT]} imports + {spent[GET]} GET by id; "
        f"{naive_cycles} poll cycles in {waited:.0f} s",
        f"<= 1.1 x {minimum} + {naive_cycles} = {1.1 * minimum + naive_cycles:.0f} (for comparison)",
    )
    server.reset()
