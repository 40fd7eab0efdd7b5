"""Plan limits: an import runs at the plan's ceiling, holds no worker while blocked, resumes cheaply.

**Startup plan, time-scaled.** The emulator runs the legacy Startup plan (10 bulk calls per
calendar hour) at ``SCALE`` emulated seconds per real second, with a per-import overhead. 100,000
orders (50 batches of 2000) need five windows: the physical minimum is the moment the fifth window
opens plus the last batch's processing. The operator runs with ``deferrable=True`` and its
deferrals are driven in-process (a sleep until the ``DateTimeTrigger``'s moment, then the method
it named), so Airflow's scheduling latency is excluded; the real-Airflow e2e shows the deferral
itself. Wall times are converted back to emulated time with the scale.

**Resume cost.** Continuing after batch 250 of a 1,000,000-order gzip file seeks to the recorded
offset (decompressing and discarding up to it) instead of reading, validating and serializing
the 500,000 orders before it. A retry after a killed try does the same from the ledger's entries
(each records where its batch ended and the file's identity).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.importing.batching import batches
from airflow_provider_voucherify.importing.continuation import (
    Checkpoints,
    Position,
    SourceIdentity,
    restart,
    where,
)
from airflow_provider_voucherify.importing.source import OrderSource
from airflow_provider_voucherify.importing.validation import serialized_orders
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from tests.benchmarks._orders import write_orders
from tests.benchmarks._report import note, record
from tests.benchmarks._runners import TaskInstanceStub
from tests.defer_floor import no_defer_floor  # noqa: F401 - a fixture
from tests.operators.deferral import drive

pytestmark = [pytest.mark.usefixtures("no_defer_floor"), pytest.mark.bench, pytest.mark.timeout(3600)]

SECTION = "plan limits"
SCALE = 100  # emulated seconds per real second: an hour lasts 36 s
BULK_PER_HOUR = 10  # the Startup plan
OVERHEAD = 30.0  # emulated seconds each import takes before its first order
SPEED = 2000.0  # orders per emulated second
ORDERS, BATCH = 100_000, 2000
RESUME_ORDERS, RESUME_AT = 1_000_000, 250


@contextmanager
def connection(server: EmulatorServer, **extra: Any) -> Iterator[None]:
    name = "AIRFLOW_CONN_VOUCHERIFY_DEFAULT"
    conn = {**json.loads(server.conn_json), "extra": extra}
    before = os.environ.get(name)
    os.environ[name] = json.dumps(conn)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_startup_plan_import_runs_at_the_ceiling(tmp_path: Path) -> None:
    path = write_orders(tmp_path / "orders-100k.jsonl.gz", ORDERS, prefix="plan")
    with EmulatorServer(
        tmp_path / "emulator",
        plan="startup",
        time_scale=SCALE,
        import_overhead=OVERHEAD,
        orders_per_second=SPEED,
    ) as server:
        emulated_now, real_now = server.clock()

        def emulated(real: float) -> float:
            return emulated_now + (real - real_now) * SCALE

        # Start at the top of an emulated hour, so the first window is a whole one.
        hour = math.ceil(emulated_now / 3600) * 3600
        time.sleep(max((hour - emulated_now) / SCALE - (time.time() - real_now), 0.0))  # a known moment
        # The hook sleeps at most an emulated minute on a 429; longer waits defer the task.
        with connection(server, max_rate_limit_wait=60 / SCALE, timeout=30):
            started = time.time()
            ti = TaskInstanceStub()
            run = drive(
                ImportOrdersOperator(task_id="import_orders", orders=str(path), deferrable=True), {"ti": ti}
            )
        deadline = time.monotonic() + 600
        while (stats := server.stats())["orders_stored"] < ORDERS:  # control endpoint: no API budget spent
            assert time.monotonic() < deadline, stats
            # Rarely: each look counts every stored order in the emulator, on the interpreter its
            # import worker runs on. The figure does not depend on it (the end is the actions'
            # updated_at), so a lazy observer only keeps the observed import from being slowed.
            time.sleep(0.5)
        with server.client() as client:
            listed = client.get("/v1/async-actions", params={"limit": 100}).json()["async_actions"]
    ids = run.result
    assert len(ids) == len(set(ids)) == ORDERS // BATCH
    assert {a["status"] for a in listed} == {"DONE"}
    finished = max(_epoch(a["updated_at"]) for a in listed)
    start_e, end_e = emulated(started), emulated(finished)
    windows = math.ceil(len(ids) / BULK_PER_HOUR)
    per_batch = OVERHEAD + BATCH / SPEED
    minimum = hour + (windows - 1) * 3600 + per_batch  # the last window opens, plus one batch
    queued_minimum = hour + (windows - 1) * 3600 + BULK_PER_HOUR * per_batch  # its batches queue
    ratio = (end_e - start_e) / (minimum - start_e)
    refused = stats["requests"]["POST /v1/orders/import"].get("429", 0)
    held = run.worker_seconds / (finished - started)
    assert stats["imports_accepted"] == len(ids)
    assert (
        stats["orders_received"] == stats["distinct_source_ids_received"] == stats["orders_stored"] == ORDERS
    )
    record(
        SECTION,
        "Startup plan (10 bulk/h), 100,000 orders in 50 batches: emulated time / physical minimum",
        f"{ratio:.3f} ({(end_e - start_e) / 3600:.2f} h vs {(minimum - start_e) / 3600:.2f} h; "
        f"{(queued_minimum - start_e) / 3600:.2f} h counting the last window's queue)",
        "<= 1.05",
        ratio <= 1.05,
    )
    record(
        SECTION,
        "429 answers on POST /v1/orders/import (windows used)",
        f"{refused} ({windows} windows, {len(run.deferrals)} deferrals)",
        "<= 1 per window",
        refused <= windows,
    )
    record(
        SECTION,
        "worker slot held / emulated time of the import",
        f"{held:.1%} ({run.worker_seconds:.1f} s of {finished - started:.1f} s real)",
        "<= 10%",
        held <= 0.10,
    )
    record(
        SECTION,
        "orders stored once (received = distinct = stored)",
        f"{stats['orders_stored']:,} of {ORDERS:,}, {stats['imports_accepted']} imports",
        "all, once",
        True,
    )
    note(
        f"plan limits: emulator --plan startup --time-scale {SCALE} --import-overhead {OVERHEAD:g} "
        f"--orders-per-second {SPEED:g}; deferrals driven in-process (sleep until the DateTimeTrigger's "
        "moment); the hook's max_rate_limit_wait is one emulated minute; times converted to emulated time."
    )


def _pipeline(source: OrderSource, start: Position, identity: SourceIdentity | None) -> Iterator[Any]:
    checkpoints = Checkpoints(source, start, identity)
    counts = start.counts()
    valid = serialized_orders(checkpoints.records(), counts=counts)
    for batch in checkpoints.batches(batches(valid, batch_size=BATCH), counts):
        yield batch, checkpoints.current, checkpoints.following


def test_resume_cost_after_batch_250_of_a_million_orders(tmp_path: Path) -> None:
    path = write_orders(tmp_path / "orders-1m.jsonl.gz", RESUME_ORDERS, prefix="resume")
    ledger: list[dict[str, Any]] = []  # what the first pass records with each accepted batch
    started = time.perf_counter()
    with OrderSource(str(path)) as source:
        identity_then = SourceIdentity.of(source)
        for made in _pipeline(source, Position(), None):
            if made[0].number == RESUME_AT + 1:
                batch, position, _ = made
                break  # batch 251 is made: the first pass went through batches 1..250
            done, _, ends = made
            ledger.append({"async_action_id": f"aa_{done.number}", **where(done.count, ends, identity_then)})
    first_pass = time.perf_counter() - started
    with OrderSource(str(path)) as source:
        identity = SourceIdentity.of(source)
    started = time.perf_counter()
    with OrderSource(str(path)) as source:
        resumed = next(_pipeline(source, position, identity))
        reached = time.perf_counter() - started
    assert resumed[0].number == RESUME_AT + 1
    assert resumed[0].body == batch.body  # the same batch 251, reached without re-reading
    ratio = first_pass / reached
    record(
        SECTION,
        f"resume cost: batch {RESUME_AT + 1} of a 1,000,000-order gzip file, first pass / resumed",
        f"{ratio:.1f}x ({first_pass:.2f} s vs {reached:.2f} s, identity check and making batch "
        f"{RESUME_AT + 1} included)",
        ">= 10x",
        ratio >= 10,
    )

    # A retry after the worker was killed: the ledger says where batch 250 ended, in this file.
    started = time.perf_counter()
    with OrderSource(str(path)) as source:
        found = restart(ledger, SourceIdentity.of(source))
        assert found is not None
        retried = next(_pipeline(source, found.continuation.position, found.continuation.identity))
        reached = time.perf_counter() - started
    assert found.batches == RESUME_AT
    assert retried[0].body == batch.body
    ratio = first_pass / reached
    record(
        SECTION,
        f"retry after a killed try: batch {RESUME_AT + 1} of the same file, first pass / retry",
        f"{ratio:.1f}x ({first_pass:.2f} s vs {reached:.2f} s, from {RESUME_AT} ledger entries: "
        "identity check, seek and making the batch included)",
        ">= 10x",
        ratio >= 10,
    )
