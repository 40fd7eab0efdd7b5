"""Triggerer load: 500 ``AsyncActionTrigger``\\ s polling in one event loop, as a triggerer runs them.

The emulator imports 1 order in 5 seconds, so the 500 queued imports (1 order each) stay ``ENQUEUED``
for the whole measurement. Each trigger polls every ``POLL_INTERVAL`` seconds; a poll cycle is one
call of ``apoll_once`` (counted by wrapping it; ``MAX_POLL_GAP`` is set to the poll interval so
the planner does not stretch the gaps of actions that do not move). Three shapes: each trigger
watches 1 action (one ``GET /v1/async-actions/{id}`` a cycle), or 3 actions, whose list calls the
triggers share (one read for all the requests queued while the previous read was in flight,
``shared_lists``), or 3 actions with sharing turned off (connection extra
``share_list_calls=false``: one list call per trigger per cycle, a short page of which only the 3
tracked entries are validated).

Figures, for this process only (the emulator is another process): CPU seconds per trigger per
cycle, from ``time.process_time()`` over a steady window divided by the cycles run in it; memory
per trigger, the RSS growth from before the triggers started to after each had polled once,
divided by their number (each holds a hook, an ``httpx.AsyncClient`` and its tracker); the HTTP
requests the emulator served in the steady window per cycle (its own request counts); and how
many triggers kept polling after ``task.cancel()`` (what a triggerer does to a trigger it drops).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.triggers.async_action import AsyncActionTrigger
from airflow_provider_voucherify.waiting import runners as waiting
from tests.benchmarks._report import note, record

pytestmark = pytest.mark.bench

TRIGGERS = int(os.environ.get("BENCH_TRIGGERS", "500"))
POLL_INTERVAL = 0.2
MEASURE_SECONDS = 8.0
TARGET_CPU_MS = 2.0
STARTUP_DEADLINE = 120.0
CANCEL_GRACE = 15.0


@pytest.fixture(scope="module")
def queued_actions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatorServer, list[str]]]:
    """An emulator at 1 order in 5 seconds with ``TRIGGERS`` imports of 1 order queued."""
    with EmulatorServer(tmp_path_factory.mktemp("triggerer-emulator"), orders_per_second=0.2) as server:
        ids = []
        with server.client() as client:
            for number in range(TRIGGERS):
                order = {
                    "source_id": f"trig-{number}",
                    "status": "PAID",
                    "amount": 1000,
                    "items": [
                        {"source_id": "sku-1", "related_object": "product", "quantity": 1, "price": 1000}
                    ],
                }
                response = client.post("/v1/orders/import", json=[order])
                response.raise_for_status()
                ids.append(response.json()["async_action_id"])
        yield server, ids


async def cancel_all(tasks: list[asyncio.Task[Any]]) -> int:
    """Cancel every trigger task; returns how many ignored ``cancel()`` and kept polling.

    A task still running ``CANCEL_GRACE`` seconds after its ``cancel()`` swallowed the
    cancellation (its loop goes on to the next poll); such tasks are cancelled again until done.
    """
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=CANCEL_GRACE)
    swallowed = sum(not task.done() for task in tasks)
    for _ in range(20):
        pending = [task for task in tasks if not task.done()]
        if not pending:
            break
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=CANCEL_GRACE)
    await asyncio.gather(*tasks, return_exceptions=True)
    return swallowed


def served(server: EmulatorServer) -> tuple[int, int]:
    """HTTP requests the emulator answered so far: (list calls, all async-action reads)."""
    counts = server.stats()["requests"]
    lists = sum(counts.get("GET /v1/async-actions", {}).values())
    return lists, lists + sum(counts.get("GET /v1/async-actions/{id}", {}).values())


async def run_triggers(server: EmulatorServer, id_sets: list[list[str]]) -> dict[str, float]:
    cycles: Counter[Any] = Counter()  # per tracker (kept alive, so no id is reused)
    poll = waiting.apoll_once

    async def counted(hook: Any, tracker: Any, *args: Any) -> Any:
        verdict = await poll(hook, tracker, *args)
        cycles[tracker] += 1  # a finished cycle
        return verdict

    waiting.apoll_once = counted  # type: ignore[assignment]
    process = psutil.Process()
    tasks: list[asyncio.Task[Any]] = []

    async def consume(trigger: AsyncActionTrigger) -> None:
        async for _event in trigger.run():
            return  # its action finished: the trigger stops polling, as in a triggerer

    def start(ids: list[str]) -> None:
        trigger = AsyncActionTrigger(ids, "voucherify_default", POLL_INTERVAL, time.time() + 3600)
        tasks.append(asyncio.create_task(consume(trigger)))

    async def until(count: int) -> None:
        deadline = time.monotonic() + STARTUP_DEADLINE
        while len(cycles) < count:
            for task in tasks:
                if task.done():
                    task.result()
            assert time.monotonic() < deadline, f"only {len(cycles)} of {count} triggers polled"
            await asyncio.sleep(0.05)

    try:
        # One trigger first, so lazily imported modules do not count as per-trigger memory.
        start(id_sets[0])
        await until(1)
        gc.collect()
        rss_before = process.memory_info().rss
        started, startup_cpu = time.perf_counter(), time.process_time()
        for ids in id_sets[1:]:
            start(ids)
        await until(len(id_sets))
        startup, startup_cpu = time.perf_counter() - started, time.process_time() - startup_cpu
        gc.collect()
        rss_after = process.memory_info().rss

        # The emulator's counts are read in a thread: the loop goes on serving the triggers.
        lists, made = await asyncio.to_thread(served, server)
        cpu, wall, done = time.process_time(), time.perf_counter(), sum(cycles.values())
        await asyncio.sleep(MEASURE_SECONDS)
        cpu, wall, done = time.process_time() - cpu, time.perf_counter() - wall, sum(cycles.values()) - done
        after = await asyncio.to_thread(served, server)
        lists, made = after[0] - lists, after[1] - made
    finally:
        survivors = await cancel_all(tasks)
        waiting.apoll_once = poll  # type: ignore[assignment]
    return {
        "cpu_per_cycle": cpu / done,
        "calls_per_cycle": made / done,
        "list_calls_per_cycle": lists / done,
        "cycles_per_trigger_second": done / len(id_sets) / wall,
        "cpu_share": cpu / wall,
        "memory_per_trigger": (rss_after - rss_before) / (len(id_sets) - 1),
        "startup": startup,
        "startup_cpu_per_trigger": startup_cpu / (len(id_sets) - 1),
        "survived_cancel": survivors,
    }


@pytest.mark.parametrize(("ids_per_trigger", "shared"), [(1, True), (3, True), (3, False)])
def test_triggerer_load(
    queued_actions: tuple[EmulatorServer, list[str]],
    ids_per_trigger: int,
    shared: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, ids = queued_actions
    conn = {**json.loads(server.conn_json), "extra": {"share_list_calls": shared}}
    monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", json.dumps(conn))
    # Every trigger polls each POLL_INTERVAL: the figure is the cost of a cycle, not how few the
    # planner needs (its actions stay queued, so it would stretch the gaps up to MAX_POLL_GAP).
    monkeypatch.setattr(waiting, "MAX_POLL_GAP", POLL_INTERVAL)
    id_sets = [[ids[(n + k) % len(ids)] for k in range(ids_per_trigger)] for n in range(TRIGGERS)]
    figures = asyncio.run(run_triggers(server, id_sets))
    shape = (
        "1 action each (GET by id)"
        if ids_per_trigger == 1
        else f"{ids_per_trigger} actions each (list, {'shared' if shared else 'not shared'})"
    )
    cpu_ms = figures["cpu_per_cycle"] * 1000
    record(
        "triggerer",
        f"{TRIGGERS} triggers, {shape}: CPU per trigger per poll cycle",
        f"{cpu_ms:.2f} ms ({figures['calls_per_cycle']:.2f} HTTP requests per cycle, "
        f"{figures['list_calls_per_cycle']:.3f} of them list calls; "
        f"{figures['cycles_per_trigger_second']:.1f} cycles/s per trigger at "
        f"poll_interval {POLL_INTERVAL} s; loop busy {figures['cpu_share']:.0%} of a core)",
        # Without sharing: the reference the shared list path is measured against.
        f"< {TARGET_CPU_MS:g} ms" if shared else "",
        cpu_ms < TARGET_CPU_MS if shared else None,
    )
    if ids_per_trigger == 1:  # the later run reuses memory this one freed: its growth would read low
        record(
            "triggerer",
            f"{TRIGGERS} triggers, {shape}: memory per trigger",
            f"{figures['memory_per_trigger'] / 1024:.0f} KiB",
        )
    record(
        "triggerer",
        f"{TRIGGERS} triggers, {shape}: first cycle (connection, client, first poll)",
        f"{figures['startup_cpu_per_trigger'] * 1000:.1f} ms CPU per trigger; "
        f"all {TRIGGERS} done after {figures['startup']:.1f} s",
    )
    record(
        "triggerer",
        f"{TRIGGERS} triggers, {shape}: kept polling after task.cancel()",
        f"{figures['survived_cancel']:.0f} of {TRIGGERS} "
        f"(still polling {CANCEL_GRACE:g} s after cancel(); cancelled again)",
    )
    if ids_per_trigger == 1:
        note(
            f"triggerer: {TRIGGERS} AsyncActionTriggers in one asyncio loop (this process only; the "
            f"emulator's CPU is another process) over {MEASURE_SECONDS:g} s once every trigger had "
            "polled; cycles per trigger per second fall below 1/poll_interval when the emulator "
            "cannot answer faster."
        )
    assert json.loads(os.environ["AIRFLOW_CONN_VOUCHERIFY_DEFAULT"])["extra"]["share_list_calls"] is shared
