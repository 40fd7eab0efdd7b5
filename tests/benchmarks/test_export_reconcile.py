"""Reconciliation by export: every order checked for a handful of calls, in flat memory.

For 100,000 and for 1,000,000 generated orders (gzip JSON Lines): the emulator is emptied, the
file is imported by ``ImportOrdersOperator`` in a fresh process (its CPU time is the import's own
client-side cost), and once every action is done the export engine
(``reconcile.export.compare_by_export`` with ``VoucherifyHook``, its defaults: a poll every 5 s)
compares every order of the file with one export of the orders, in another fresh process that
reports its own peak RSS (``VmHWM``). The operator adds a second export (customers) to map
``customer_id`` to ``source_id``; this measures the engine, so it runs without the operator.

Calls are counted by the emulator (every route but its control endpoints), the download by the
export book (``downloads.requests``). Beside them, the sample method's calls for a sample of 100
of the same 100,000 orders (``ReconcileOrdersOperator``, today's default).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from tests.benchmarks._orders import write_orders
from tests.benchmarks._peak import OWN_PEAK
from tests.benchmarks._report import note, record
from tests.benchmarks.test_reconcile_cost import reconcile as reconcile_by_sample

pytestmark = pytest.mark.bench

SMALL, LARGE = 100_000, 1_000_000
SAMPLE = 100
MAX_CALLS = 12
MAX_RATIO = 1.3
MAX_LARGE_MB = 400
MAX_COST_RATIO = 3.0

IMPORT_CHILD = """
import json, os, sys, time
os.environ["AIRFLOW_CONN_VOUCHERIFY_DEFAULT"] = sys.argv[2]
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator

class TI:
    def xcom_push(self, key, value):
        pass

cpu, started = time.process_time(), time.perf_counter()
ids = ImportOrdersOperator(task_id="import_orders", orders=sys.argv[1]).execute({"ti": TI()})
cpu, seconds = time.process_time() - cpu, time.perf_counter() - started
print(json.dumps({"ids": ids, "cpu_seconds": cpu, "seconds": seconds}))
"""

EXPORT_CHILD = (
    OWN_PEAK
    + """
import json, os, sys, time
os.environ["AIRFLOW_CONN_VOUCHERIFY_DEFAULT"] = sys.argv[1]
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.importing.source import OrderSource
from airflow_provider_voucherify.reconcile.export import compare_by_export, source_records

class Timed:
    # The hook's export calls, noting when the export was created and when its download began.

    def __init__(self, hook):
        self.hook, self.created, self.done = hook, 0.0, 0.0

    def create_export(self, *args, **kwargs):
        export = self.hook.create_export(*args, **kwargs)
        self.created = time.perf_counter()
        return export

    def get_export(self, export_id):
        return self.hook.get_export(export_id)

    def download_export(self, export):
        self.done = time.perf_counter()
        return self.hook.download_export(export)

orders, missing, work_dir = sys.argv[2:5]
hook = VoucherifyHook()
calls = Timed(hook)
cpu, started = time.process_time(), time.perf_counter()
with OrderSource(orders) as source, open(missing, "wb") as out:
    result = compare_by_export(calls, source_records(source), out, work_dir=work_dir)
seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
hook.close()
print(json.dumps({"peak_mb": own_peak_kib() / 1024, "seconds": seconds, "cpu_seconds": cpu_seconds,
                  "export_wait": calls.done - calls.created, **result.summary()}))
"""
)


def child(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, check=False, text=True, timeout=3600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def api_calls(server: EmulatorServer) -> dict[str, int]:
    stats = server.stats()
    calls = {
        route: sum(statuses.values())
        for route, statuses in stats["requests"].items()
        if not route.split(" ", 1)[-1].startswith("/_emulator")
    }
    # The download, served by the API's own port here, is one of the GET /v1/exports/{id} calls.
    calls["(of which downloads)"] = stats["downloads"]["requests"]
    return calls


def total(calls: dict[str, int]) -> int:
    return sum(count for route, count in calls.items() if not route.startswith("("))


def spent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {
        route: count - before.get(route, 0) for route, count in after.items() if count != before.get(route, 0)
    }


def measure(server: EmulatorServer, directory: Path, count: int) -> dict[str, Any]:
    """Import ``count`` orders into an empty emulator, then reconcile them by export."""
    path = write_orders(directory / f"orders-{count}.jsonl.gz", count, prefix=f"exp{count}")
    server.reset()
    imported = child(IMPORT_CHILD, str(path), server.conn_json)
    wait_for_actions(server, imported["ids"], deadline_s=3600)
    before = api_calls(server)
    run = child(
        EXPORT_CHILD, server.conn_json, str(path), str(directory / f"missing-{count}.jsonl"), str(directory)
    )
    run["calls"] = spent(before, api_calls(server))
    run["import"] = imported
    run["path"] = path
    print(
        f"  {count:>9,} orders: checked {run['checked']:,}, missing {run['missing']}, differing "
        f"{run['differing']}; calls {run['calls']}; peak RSS {run['peak_mb']:.0f} MB; {run['seconds']:.1f} s "
        f"({run['export_wait']:.1f} s waiting for the export, {run['cpu_seconds']:.1f} CPU-s); "
        f"import {imported['cpu_seconds']:.1f} client CPU-s"
    )
    return run


@pytest.mark.timeout(7200)
def test_reconciling_by_export_checks_every_order_for_a_handful_of_calls(
    unlimited_emulator: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("bench-export")
    small = measure(unlimited_emulator, directory, SMALL)
    sample = reconcile_by_sample(
        unlimited_emulator,
        orders=str(small["path"]),
        async_action_ids=small["import"]["ids"],
        sample_size=SAMPLE,
        seed=1,
    )
    large = measure(unlimited_emulator, directory, LARGE)

    for count, run in ((SMALL, small), (LARGE, large)):
        assert (run["checked"], run["missing"], run["differing"]) == (count, 0, 0), run
    export_calls = total(small["calls"])
    sample_calls = sum(sample["calls"].values())
    record(
        "reconciliation",
        f"calls to reconcile {SMALL:,} orders by export (engine: one order export, poll every 5 s)",
        f"{export_calls} ({', '.join(f'{n} {route}' for route, n in small['calls'].items())}); "
        f"{small['checked']:,} orders checked",
        f"<= {MAX_CALLS}, every order checked",
        export_calls <= MAX_CALLS and small["checked"] == SMALL,
    )
    record(
        "reconciliation",
        f"calls to reconcile {SMALL:,} orders by sample ({SAMPLE} orders read back)",
        f"{sample_calls} ({', '.join(f'{n} {route}' for route, n in sample['calls'].items() if n)}); "
        f"{sample['sampled']} orders checked",
    )
    record(
        "reconciliation",
        f"calls to reconcile {LARGE:,} orders by export",
        f"{total(large['calls'])} ({', '.join(f'{n} {r}' for r, n in large['calls'].items())})",
    )
    ratio = large["peak_mb"] / small["peak_mb"]
    record("reconciliation", f"export: peak RSS, {SMALL:,} orders", f"{small['peak_mb']:.0f} MB")
    record(
        "reconciliation",
        f"export: peak RSS, {LARGE:,} orders",
        f"{large['peak_mb']:.0f} MB",
        f"< {MAX_LARGE_MB} MB",
        large["peak_mb"] < MAX_LARGE_MB,
    )
    record(
        "reconciliation",
        "export: peak RSS ratio 1M / 100k",
        f"{ratio:.2f}",
        f"<= {MAX_RATIO}",
        ratio <= MAX_RATIO,
    )
    for count, run in ((SMALL, small), (LARGE, large)):
        import_per_order = run["import"]["cpu_seconds"] / count
        client = (run["seconds"] - run["export_wait"]) / count
        record(
            "reconciliation",
            f"export: client wall time per order (all but the wait for the export) / the import's "
            f"client CPU per order, {count:,} orders",
            f"{client / import_per_order:.2f} ({client * 1e6:.0f} us vs {import_per_order * 1e6:.0f} us; "
            f"{run['cpu_seconds']:.1f} CPU-s)",
            f"<= {MAX_COST_RATIO}",
            client / import_per_order <= MAX_COST_RATIO,
        )
        whole = run["seconds"] / count
        record(
            "reconciliation",
            f"export: whole wall time per order / the import's client CPU per order, {count:,} orders",
            f"{whole / import_per_order:.2f} ({run['seconds']:.1f} s, of which {run['export_wait']:.1f} s "
            "waiting for the emulator to write the export)",
        )
    note(
        "reconciliation by export: reconcile.export.compare_by_export with VoucherifyHook in a fresh process "
        "per run (peak = VmHWM, Airflow imported); the emulator writes the export as fast as it can (it "
        "renders each order in full, so its export time is the emulator's, not the API's: how long real "
        "exports take is not documented); 'client wall time' leaves out the wait from the export's "
        "creation to its download (polls every 5 s). The operator's method='export' adds one customer "
        "export (the same calls again) to map customer_id to source_id."
    )
