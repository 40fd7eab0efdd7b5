"""Sandbox plan, time-scaled: the example backfill DAG imports 10,000 orders and waits in budget.

The emulator runs a Sandbox project (100 ordinary calls and 1 bulk call per calendar hour) at
``SCALE`` emulated seconds per real second, so an emulated hour lasts 6 real seconds. The
warehouse holds one month of 10,001 orders (one bad on purpose): 5 batches of 2,000. The example
DAG runs once through ``dag.test()`` in this process: extract, import (``deferrable=True``: it
defers on each bulk window until the next one opens), wait (the deferrable sensor; its trigger
runs in-process) and verify.

What the client is told of the scale: the hook's ``max_rate_limit_wait`` is an emulated minute,
and the waiting budget's window (``pacing.ASSUMED_WINDOW``, an hour) is set to the emulated
hour's 6 real seconds. Every request is recorded on the client side (the transports are wrapped,
not replaced) with its answer's ``X-Rate-Limit-Type``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.waiting import pacing
from scripts.demo import POOL, next_month, run_months
from scripts.sample_warehouse import build_sqlite
from tests.benchmarks._report import record

pytestmark = pytest.mark.bench

SCALE = 600
HOUR = 3600 / SCALE  # an emulated hour in real seconds
ORDERS = 10_001  # one of them bad on purpose: 10,000 to import, 5 batches
WAIT_CALLS_PER_HOUR = 20


@dataclass(frozen=True)
class Exchange:
    at: float
    method: str
    path: str
    status: int
    limit_type: str | None


@pytest.fixture
def exchanges(monkeypatch: pytest.MonkeyPatch) -> list[Exchange]:
    """Every API request of this process (sync and async clients), recorded as it is answered."""
    seen: list[Exchange] = []

    def remember(request: httpx.Request, response: httpx.Response) -> None:
        if request.url.path.startswith("/v1/"):
            limit_type = response.headers.get("x-rate-limit-type")
            seen.append(
                Exchange(time.time(), request.method, request.url.path, response.status_code, limit_type)
            )

    sync_send, async_send = httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request

    def sync(transport: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        response = sync_send(transport, request)
        remember(request, response)
        return response

    async def asynchronous(transport: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        response = await async_send(transport, request)
        remember(request, response)
        return response

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", sync)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", asynchronous)
    return seen


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[EmulatorServer]:
    with EmulatorServer(tmp_path / "emulator", plan="sandbox", time_scale=SCALE) as server:
        yield server


def busiest_hour(times: list[float]) -> int:
    """The most calls in any emulated hour (a sliding window, stricter than calendar hours)."""
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t < start + HOUR) for i, start in enumerate(times)), default=0)


def test_sandbox_backfill_of_10000_orders_through_the_example_dag(
    airflow_db: Path,
    sandbox: EmulatorServer,
    exchanges: list[Exchange],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from airflow.models.pool import Pool

    warehouse = build_sqlite(tmp_path / "warehouse.db", months=1, orders_per_month=ORDERS, seed=3)
    month = warehouse.months[0].start
    Pool.create_or_update_pool(POOL, slots=1, description="Voucherify order imports", include_deferred=False)
    conn = {**json.loads(sandbox.conn_json), "extra": {"max_rate_limit_wait": 60 / SCALE}}
    for name, value in {
        "AIRFLOW_CONN_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")}),
        "AIRFLOW_CONN_VOUCHERIFY_DEFAULT": json.dumps(conn),
        "VOUCHERIFY_WAREHOUSE_CONN_ID": "warehouse",
        "VOUCHERIFY_STAGING_BASE": (tmp_path / "staging").as_uri(),
        "VOUCHERIFY_BACKFILL_START": month.isoformat(),
        "VOUCHERIFY_BACKFILL_END": next_month(month).isoformat(),
        "VOUCHERIFY_POLL_INTERVAL": str(30 / SCALE),
        "VOUCHERIFY_VERIFY_SAMPLE_SIZE": "5",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(pacing, "ASSUMED_WINDOW", HOUR)

    started = time.time()
    [result] = run_months([month])
    emulated_hours = (time.time() - started) / HOUR

    assert result["state"] == "success", result
    assert sandbox.stats()["orders_stored"] == ORDERS - 1
    imports = [e for e in exchanges if e.method == "POST"]
    accepted = [e for e in imports if e.status == 200]
    assert len(accepted) == 5
    # The wait: the async-action reads after the last accepted import (verify reads orders after).
    waiting = [e for e in exchanges if e.path.startswith("/v1/async-actions") and e.at > accepted[-1].at]
    refused = Counter((e.method, e.limit_type) for e in exchanges if e.status == 429)
    ordinary_refused = sum(n for (_, kind), n in refused.items() if kind == "api_calls")
    busiest = busiest_hour([e.at for e in waiting])
    record(
        "api calls",
        "Sandbox (100 calls, 1 bulk call per hour), time-scaled: example DAG, 10,000 orders in 5 batches",
        f"success after {emulated_hours:.1f} emulated h; {len(exchanges)} calls "
        f"({len(imports)} import POSTs, {sum(n for (m, k), n in refused.items() if k == 'bulk_api_calls')} "
        f"refused by the bulk window); api_calls 429: {ordinary_refused}; the wait: {len(waiting)} calls, "
        f"at most {busiest} in an emulated hour",
        f"no api_calls 429; the wait <= {WAIT_CALLS_PER_HOUR} calls per emulated hour",
        ordinary_refused == 0 and busiest <= WAIT_CALLS_PER_HOUR,
    )
    assert ordinary_refused == 0, refused
    assert busiest <= WAIT_CALLS_PER_HOUR
