"""Throughput: orders per second from a JSON Lines file to accepted imports, three ways side by side.

The provider (``ImportOrdersOperator.execute`` outside a scheduler), the floor (``json.loads`` per
line, batches of 2000, one ``httpx.Client``) and the official ``voucherify`` SDK each send the same
200,000 generated orders to the same emulator (unlimited import speed, wiped before each run).
Runs are interleaved (provider, floor, SDK, provider, ...) so that load from other processes hits
all three alike; each figure is the best of ``ROUNDS`` runs.

Two clocks per run: wall time from opening the file to the last accepted import (what the issue
targets), and the CPU time of this process over the same span (the client's own cost: reading,
validating, serializing, HTTP). The emulator runs in its own process and its accept path (it
parses and checks every order) bounds the wall figures on this machine; the CPU figures do not
depend on it.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from tests.benchmarks._orders import write_orders
from tests.benchmarks._report import note, record
from tests.benchmarks._runners import RUNNERS
from tests.benchmarks.conftest import THROUGHPUT_ORDERS

pytestmark = pytest.mark.bench

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WARM_UP_ORDERS = 4000
TARGETS = {"floor": 0.8, "sdk": 4.0}


def test_throughput(unlimited_emulator: EmulatorServer, orders_200k: Path, tmp_path: Path) -> None:
    server = unlimited_emulator
    # Untimed warm-up: imports (Airflow, the SDK's hundreds of models), first connections.
    warm_up = write_orders(tmp_path / "warm-up.jsonl", WARM_UP_ORDERS, prefix="warm")
    for run in RUNNERS.values():
        server.reset()
        run(server, warm_up)

    best_wall = dict.fromkeys(RUNNERS, 0.0)
    best_cpu = dict.fromkeys(RUNNERS, 0.0)
    for round_number in range(1, ROUNDS + 1):
        for name, run in RUNNERS.items():
            server.reset()
            gc.collect()
            cpu, wall = time.process_time(), time.perf_counter()
            ids = run(server, orders_200k)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            stats = server.stats()
            assert len(ids) == THROUGHPUT_ORDERS // 2000, name
            assert stats["orders_received"] == THROUGHPUT_ORDERS, (name, stats)
            print(
                f"  round {round_number} {name:8}: {THROUGHPUT_ORDERS / wall:8,.0f} orders/s wall "
                f"({wall:5.1f} s), {THROUGHPUT_ORDERS / cpu:8,.0f} orders per client CPU-second"
            )
            best_wall[name] = max(best_wall[name], THROUGHPUT_ORDERS / wall)
            best_cpu[name] = max(best_cpu[name], THROUGHPUT_ORDERS / cpu)
    server.reset()

    for name in RUNNERS:
        record(
            "throughput",
            f"{name}, {THROUGHPUT_ORDERS:,} orders (best of {ROUNDS})",
            f"{best_wall[name]:,.0f} orders/s wall; {best_cpu[name]:,.0f} orders/client CPU-s",
        )
    for other, target in TARGETS.items():
        for clock, best in (("wall", best_wall), ("client CPU", best_cpu)):
            ratio = best["provider"] / best[other]
            record(
                "throughput",
                f"provider / {other}, {clock}",
                f"{ratio:.2f}",
                f">= {target:g}",
                ratio >= target,
            )
    note(
        "throughput: wall = opening the file to the last accepted import; client CPU = CPU time of the "
        "importing process over that span. The emulator (another process on the same 2 cores) spends "
        "about 0.1-0.3 s accepting each 2000-order request, which caps every wall figure near 13,000 "
        "orders/s and pulls wall ratios toward 1; the CPU ratios are the clients' own cost."
    )
