"""API calls of waiting: 25 imports that take 10 emulated minutes in all, ``poll_interval=30``.

The emulator runs at ``--time-scale 60`` (10 emulated minutes pass in 10 real seconds) and imports
its 500 orders in 600 emulated seconds; ``poll_interval`` is 30 emulated seconds (0.5 real). The
client never learns the scale: it polls on real time, and the figures convert back.

``ImportOrdersOperator`` with ``wait_for_completion=True`` sends the 25 batches and waits in the
worker, once as the provider plans its polls (from the imports' progress rate) and once with the
gap held at ``poll_interval`` (the wait before the planner: a list call every 30 s). Each of the 25
actions needs one ``GET /v1/async-actions/{id}`` for its result; every other call is the price of
knowing when to read it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.waiting import planner
from tests.benchmarks._orders import write_orders
from tests.benchmarks._report import record
from tests.benchmarks._runners import provider

pytestmark = pytest.mark.bench

SCALE = 60
IMPORTS = 25
ORDERS_EACH = 20
EMULATED_SECONDS = 600
POLL_INTERVAL = 30
LIST = "GET /v1/async-actions"
GET = "GET /v1/async-actions/{id}"


@pytest.fixture(scope="module")
def scaled_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(
        tmp_path_factory.mktemp("waiting-emulator"),
        time_scale=SCALE,
        orders_per_second=IMPORTS * ORDERS_EACH / EMULATED_SECONDS,
    ) as server:
        yield server


def wait_and_count(server: EmulatorServer, orders: Path) -> tuple[int, int, float]:
    """Import and wait; (list calls, GETs by id, emulated seconds from the first import to the end)."""
    server.reset()
    ids = provider(
        server,
        orders,
        batch_size=ORDERS_EACH,
        wait_for_completion=True,
        deferrable=False,
        poll_interval=POLL_INTERVAL / SCALE,
    )
    ended = time.time()
    assert len(ids) == IMPORTS
    assert server.stats()["orders_stored"] == IMPORTS * ORDERS_EACH
    requests = server.stats()["requests"]
    lists, gets = sum(requests.get(LIST, {}).values()), sum(requests.get(GET, {}).values())
    # From the first import (not the operator's start: Airflow's first imports take seconds).
    with server.client() as client:
        first = client.get(f"/v1/async-actions/{ids[0]}").json()["created_at"]
    queued = datetime.fromisoformat(first.replace("Z", "+00:00")).timestamp()
    return lists, gets, (ended - queued) * SCALE


def test_waiting_on_25_imports_over_10_emulated_minutes(
    scaled_emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = write_orders(tmp_path / "orders-500.jsonl", IMPORTS * ORDERS_EACH, prefix="waiting")

    lists, gets, emulated = wait_and_count(scaled_emulator, orders)
    others = lists + gets - IMPORTS
    record(
        "api calls",
        f"waiting on {IMPORTS} imports ({EMULATED_SECONDS // 60} emulated min), poll_interval "
        f"{POLL_INTERVAL} s, planned from progress",
        f"{lists + gets} calls = {lists} list + {gets} GET by id ({IMPORTS} result reads + {others} "
        f"other); done {emulated:.0f} emulated s after the first import (the queue takes {EMULATED_SECONDS})",
        f"<= {IMPORTS} result reads + 5",
        others <= 5,
    )

    monkeypatch.setattr(planner, "MAX_POLL_GAP", POLL_INTERVAL / SCALE)  # a poll every poll_interval
    fixed_lists, fixed_gets, fixed_emulated = wait_and_count(scaled_emulator, orders)
    record(
        "api calls",
        f"same wait, a poll every poll_interval ({POLL_INTERVAL} s; the wait before the planner)",
        f"{fixed_lists + fixed_gets} calls = {fixed_lists} list + {fixed_gets} GET by id; done "
        f"{fixed_emulated:.0f} emulated s after the first import",
        "for comparison",
    )
    assert others <= 5, f"{lists} list calls and {gets} GETs for {IMPORTS} actions"
