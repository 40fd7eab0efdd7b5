"""Memory: ImportOrdersOperator streaming 1,000,000 orders peaks within 1.2x of 100,000 orders.

Each import runs in a fresh Python process (so one run's peak cannot hide in another's) that
imports Airflow and the provider, runs ``ImportOrdersOperator.execute`` on a gzip JSON Lines file
against the emulator, and reports its own peak resident set size (``VmHWM``). What grows with
the input would show up as a higher peak for the larger file; what does not (the interpreter,
Airflow, one batch of at most 10 MiB in flight) is the same in both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from tests.benchmarks._orders import write_orders
from tests.benchmarks._peak import OWN_PEAK
from tests.benchmarks._report import note, record

pytestmark = pytest.mark.bench

SMALL, LARGE = 100_000, 1_000_000
MAX_RATIO = 1.2
MAX_LARGE_MB = 300

# Runs in the child process: argv = [orders file, connection JSON].
CHILD = (
    OWN_PEAK
    + """
import json, os, sys, time
os.environ["AIRFLOW_CONN_VOUCHERIFY_DEFAULT"] = sys.argv[2]
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator

class TI:
    def xcom_push(self, key, value):
        self.summary = value

ti = TI()
started = time.perf_counter()
ids = ImportOrdersOperator(task_id="import_orders", orders=sys.argv[1]).execute({"ti": ti})
seconds = time.perf_counter() - started
peak_kib = own_peak_kib()
print(json.dumps({"peak_mb": peak_kib / 1024, "seconds": seconds, "batches": len(ids), **ti.summary}))
"""
)


def peak_memory(server: EmulatorServer, path: Path) -> dict[str, float]:
    server.reset()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), server.conn_json],
        capture_output=True,
        check=True,
        text=True,
        timeout=1800,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_peak_memory_does_not_grow_with_the_input(
    unlimited_emulator: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("bench-memory")
    results = {}
    for count in (SMALL, LARGE):
        path = write_orders(directory / f"orders-{count}.jsonl.gz", count, prefix=f"mem{count}")
        results[count] = run = peak_memory(unlimited_emulator, path)
        assert run["sent"] == count, run
        print(
            f"  {count:>9,} orders: peak RSS {run['peak_mb']:6.1f} MB, {run['seconds']:6.1f} s "
            f"({count / run['seconds']:,.0f} orders/s), {int(run['batches'])} batches"
        )
    small, large = results[SMALL]["peak_mb"], results[LARGE]["peak_mb"]
    ratio = large / small
    record("memory", f"peak RSS, {SMALL:,} orders (gzip JSONL)", f"{small:.0f} MB")
    record(
        "memory",
        f"peak RSS, {LARGE:,} orders",
        f"{large:.0f} MB",
        f"< {MAX_LARGE_MB} MB",
        large < MAX_LARGE_MB,
    )
    record("memory", "peak RSS ratio 1M / 100k", f"{ratio:.2f}", f"<= {MAX_RATIO}", ratio <= MAX_RATIO)
    note(
        "memory: each import runs ImportOrdersOperator.execute in a fresh Python process against the "
        "emulator; the figure is that process's own peak RSS, VmHWM (interpreter and Airflow included)."
    )
    assert ratio <= MAX_RATIO, results
    assert large < MAX_LARGE_MB, results
