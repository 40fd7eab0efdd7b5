"""Reconciliation cost: 100,000 imported orders, sample_size=100: API reads and memory.

One import of 100,000 generated orders (50 async actions of 2000). Then ReconcileOrdersOperator
runs in a fresh Python process (so its peak resident memory is its own) three times:

- the whole file, default settings (customers checked by link): reads = 50 action reads + 100
  order reads + the preflight's one schema read, the floor;
- the whole file, ``compare_customers=True``: the same + one read per distinct customer of the
  sample;
- the first 10,000 lines with the first 5 actions, default settings: the same sample size over a
  tenth of the input, so a peak that grew with the input would show as a ratio above 1.

Reads are counted by the emulator (``/_emulator/stats``), not by the client. The action reads
cannot shrink: only ``GET /v1/async-actions/{id}`` carries an import's result (``done_count``,
``failed_count``); the list endpoint does not, so one read per action is the floor.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from tests.benchmarks._orders import write_orders
from tests.benchmarks._peak import OWN_PEAK
from tests.benchmarks._report import note, record

pytestmark = pytest.mark.bench

ORDERS, SMALL = 100_000, 10_000
SAMPLE = 100
MAX_RATIO = 1.2
ROUTES = (
    "GET /v1/async-actions/{id}",
    "GET /v1/orders/{id}",
    "GET /v1/customers/{id}",
    "GET /v1/metadata-schemas/{resource}",
)

CHILD = (
    OWN_PEAK
    + """
import json, os, sys, time
os.environ["AIRFLOW_CONN_VOUCHERIFY_DEFAULT"] = sys.argv[1]
from airflow_provider_voucherify.operators.reconcile_orders import ReconcileOrdersOperator

options = json.loads(sys.argv[2])
started = time.perf_counter()
summary = ReconcileOrdersOperator(task_id="reconcile", **options).execute({})
seconds = time.perf_counter() - started
peak_kib = own_peak_kib()
print(json.dumps({"peak_mb": peak_kib / 1024, "seconds": seconds, **summary}))
"""
)


def reads(server: EmulatorServer) -> dict[str, int]:
    requests = server.stats()["requests"]
    return {route: sum(requests.get(route, {}).values()) for route in ROUTES}


def reconcile(server: EmulatorServer, **options: Any) -> dict[str, Any]:
    before = reads(server)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, server.conn_json, json.dumps(options)],
        capture_output=True,
        check=True,
        text=True,
        timeout=1800,
    )
    after = reads(server)
    run = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    run["calls"] = {route: after[route] - before[route] for route in ROUTES}
    return run


@pytest.mark.timeout(1800)
def test_reconciling_100k_orders_reads_the_sample_only_in_flat_memory(
    unlimited_emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = unlimited_emulator
    server.reset()
    monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", server.conn_json)
    path = write_orders(tmp_path / "orders-100k.jsonl", ORDERS, prefix="recon")
    small = tmp_path / "orders-10k.jsonl"
    with path.open("rb") as source, small.open("wb") as target:
        target.writelines(itertools.islice(source, SMALL))

    class TI:
        def xcom_push(self, key: str, value: Any) -> None:
            pass

    ids = ImportOrdersOperator(task_id="import_orders", orders=str(path)).execute({"ti": TI()})  # type: ignore[arg-type]
    wait_for_actions(server, ids, deadline_s=600)
    assert len(ids) == ORDERS // 2000

    floor = reconcile(server, orders=str(path), async_action_ids=ids, sample_size=SAMPLE, seed=1)
    full = reconcile(
        server, orders=str(path), async_action_ids=ids, sample_size=SAMPLE, seed=1, compare_customers=True
    )
    tenth = reconcile(
        server, orders=str(small), async_action_ids=ids[: SMALL // 2000], sample_size=SAMPLE, seed=1
    )

    for name, run in (("100k", floor), ("100k, customers", full), ("10k", tenth)):
        print(
            f"  {name:>18}: {run['calls']}, peak RSS {run['peak_mb']:.0f} MB, {run['seconds']:.1f} s, "
            f"sampled {run['sampled']}, matched {run['matched']}, "
            f"catches > {run['detectable_corruption_rate']:.2%}"
        )
        assert run["sampled"] == run["matched"] == SAMPLE, run
    actions, orders, customers, schemas = (floor["calls"][route] for route in ROUTES)
    assert (actions, orders, customers, schemas) == (len(ids), SAMPLE, 0, 1)
    with_customers = full["calls"]
    ratio = floor["peak_mb"] / tenth["peak_mb"]
    record(
        "reconciliation",
        f"reads to reconcile {ORDERS:,} orders, sample {SAMPLE} (default: customers checked by link)",
        f"{orders} order reads + {customers} customer reads + {actions} action reads + {schemas} schema read",
        f"<= {SAMPLE} order reads + the action reads",
        orders <= SAMPLE and customers == 0,
    )
    record(
        "reconciliation",
        "same, compare_customers=True",
        f"{with_customers[ROUTES[1]]} order reads + {with_customers[ROUTES[2]]} customer reads + "
        f"{with_customers[ROUTES[0]]} action reads + {with_customers[ROUTES[3]]} schema read",
    )
    record(
        "reconciliation",
        f"action reads for {ORDERS:,} orders (one per action: only GET by id carries the result)",
        f"{actions} (before: {len(ids)}; the list endpoint carries no result, so it cannot replace them)",
    )
    record(
        "reconciliation",
        f"wall time, {ORDERS:,} orders (stream + parse + {SAMPLE} reads)",
        f"{floor['seconds']:.1f} s ({ORDERS / floor['seconds']:,.0f} orders/s)",
    )
    record(
        "reconciliation",
        f"peak RSS {ORDERS:,} / {SMALL:,} orders",
        f"{floor['peak_mb']:.0f} MB / {tenth['peak_mb']:.0f} MB = {ratio:.2f}",
        f"<= {MAX_RATIO}",
        ratio <= MAX_RATIO,
    )
    note(
        "reconciliation: ReconcileOrdersOperator.execute in a fresh process per run; reads counted by "
        "the emulator; with compare_customers=True customers are read once each (about one distinct "
        "customer per sampled order here)."
    )
    assert ratio <= MAX_RATIO, (floor, tenth)
