"""The example backfill on a distributed Airflow, and a Celery worker lost in the middle of an import.

CeleryExecutor with two workers (Redis broker, PostgreSQL metadata database), api-server,
scheduler, dag-processor and triggerer, staging in an S3 bucket (moto), the warehouse in
PostgreSQL. Six monthly runs, three at a time: months extract on both workers, imports take the
one slot of the pool in turn, the sensors wait deferred in the triggerer.

The first import sends two batches, then the emulator's bulk budget is spent: the worker sleeps
on the 429's ``Retry-After`` with no request in flight. The test SIGKILLs that worker's whole
process group (its machine is lost), the budget comes back, the scheduler fails the try when its
heartbeats stop, and the retry runs on the other worker: it reads the two batches from the task
state store and sends only the rest.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections import Counter
from datetime import date, datetime
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from scripts.demo import DAG_ID
from scripts.sample_warehouse import Warehouse
from tests.distributed.celery_cluster import CeleryAirflowCluster
from tests.distributed.conftest import (
    BUCKET,
    MONTHS,
    ORDERS_PER_MONTH,
    ROWS,
    Row,
    pretty,
)
from tests.distributed.s3_server import S3Server
from tests.distributed.settings.airflow_local_settings import BATCH_SIZE
from tests.faults.matrix import end_state
from tests.postgres_server import PostgresServer

# Generous: on a busy machine the set-up alone (migrations, eight processes) takes minutes.
pytestmark = [pytest.mark.distributed, pytest.mark.timeout(1800)]

KILL_AFTER = 2  # batches the first import sends before the bulk budget runs out
# Shorter than the hook's longest wait on a 429, so the worker sleeps rather than gives up.
BUDGET_RESET_SECONDS = 45
LEDGER_PREFIX = "voucherify_import/batch/"
IMPORT_POST = "POST /v1/orders/import"


def ledger(cluster: CeleryAirflowCluster, run_id: str) -> dict[int, dict[str, Any]]:
    """The import task's task state store entries of ``run_id``, by batch number."""
    rows = cluster.query(
        "SELECT key, value FROM task_state_store WHERE dag_id = %s AND run_id = %s"
        " AND task_id = 'import_orders' AND key LIKE %s",
        DAG_ID,
        run_id,
        LEDGER_PREFIX + "%",
    )
    return {
        int(key.removeprefix(LEDGER_PREFIX)): json.loads(value) if isinstance(value, str) else value
        for key, value in rows
    }


def tries(cluster: CeleryAirflowCluster, task_id: str | None = None) -> list[tuple[Any, ...]]:
    """Every try of every task (earlier tries from the history table): run, task, try, host, state,
    start, end."""
    columns = "run_id, task_id, try_number, hostname, state, start_date, end_date"
    where = "dag_id = %s" + (" AND task_id = %s" if task_id else "")
    params = (DAG_ID, task_id) if task_id else (DAG_ID,)
    return cluster.query(
        f"SELECT {columns} FROM task_instance WHERE {where}"
        f" UNION ALL SELECT {columns} FROM task_instance_history WHERE {where} ORDER BY 1, 2, 3",
        *params,
        *params,
    )


def xcom(cluster: CeleryAirflowCluster, task_id: str, key: str = "return_value") -> dict[str, Any]:
    rows = cluster.query(
        "SELECT run_id, value FROM xcom WHERE dag_id = %s AND task_id = %s AND key = %s", DAG_ID, task_id, key
    )
    return {run_id: json.loads(value) if isinstance(value, str) else value for run_id, value in rows}


def valid_source_ids(postgres: PostgresServer) -> set[str]:
    conn = postgres.connect("distributed_warehouse")
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT source_id FROM orders WHERE source_id NOT IN (SELECT source_id FROM known_bad_orders)"
            )
            return {source_id for (source_id,) in cursor.fetchall()}
    finally:
        conn.close()


def import_requests(emulator: EmulatorServer) -> dict[str, int]:
    return dict(emulator.stats()["requests"].get(IMPORT_POST, {}))


def overlapping(intervals: list[tuple[datetime, datetime]]) -> list[tuple[Any, ...]]:
    ordered = sorted(intervals)
    return [(a, b) for a, b in itertools.pairwise(ordered) if b[0] < a[1]]


def test_backfill_on_celery_workers_survives_a_worker_killed_mid_import(
    celery_cluster: CeleryAirflowCluster,
    warehouse: tuple[str, Warehouse],
    limited_emulator: EmulatorServer,
    s3_server: S3Server,
    postgres_server: PostgresServer,
) -> None:
    cluster, emulator = celery_cluster, limited_emulator
    started = time.monotonic()
    emulator.set_faults(bulk_calls_per_hour=KILL_AFTER, retry_after_seconds=BUDGET_RESET_SECONDS)
    cluster.start()

    # ---- the first import waits on the spent bulk budget after two recorded batches: kill its worker
    def import_asleep() -> tuple[str, str] | None:
        for run_id, hostname in cluster.query(
            "SELECT run_id, hostname FROM task_instance WHERE dag_id = %s AND task_id = 'import_orders'"
            " AND state = 'running' AND try_number = 1",
            DAG_ID,
        ):
            if len(ledger(cluster, run_id)) == KILL_AFTER and import_requests(emulator).get("429"):
                return run_id, hostname
        return None

    victim_run, victim_host = cluster.wait_for(
        "the first import to record two batches and wait on the bulk limit", import_asleep, timeout=420
    )
    assert victim_host in cluster.workers, f"unexpected task host {victim_host!r}"
    assert import_requests(emulator).get("200") == KILL_AFTER, pretty(emulator.stats()["requests"])
    cluster.kill(victim_host)
    emulator.clear_faults()  # the budget is back (the hour is over)

    # ---- every month to the end, on the surviving worker
    deferred: set[str] = set()

    def all_runs_done() -> list[tuple[Any, ...]] | None:
        for (run_id,) in cluster.query(
            'SELECT ti.run_id FROM task_instance ti JOIN "trigger" t ON t.id = ti.trigger_id'
            " WHERE ti.dag_id = %s AND ti.task_id = 'wait_for_import' AND ti.state = 'deferred'"
            " AND t.triggerer_id IS NOT NULL",
            DAG_ID,
        ):
            deferred.add(run_id)
        runs = cluster.query("SELECT run_id, state FROM dag_run WHERE dag_id = %s", DAG_ID)
        if any(state == "failed" for _, state in runs):
            raise AssertionError(f"runs failed: {runs}\n{pretty(tries(cluster))}\n{cluster.logs()}")
        return runs if len(runs) == MONTHS and all(state == "success" for _, state in runs) else None

    runs = cluster.wait_for("all six monthly runs to succeed", all_runs_done, timeout=480, interval=0.5)
    seconds = time.monotonic() - started
    run_ids = {run_id for run_id, _ in runs}
    every_try = tries(cluster)

    # ---- where the tasks ran
    hosts = Counter(host for *_, host, _, _, _ in every_try if host)
    assert set(hosts) == set(cluster.workers), f"tasks per worker: {hosts}"
    imports = [t for t in every_try if t[1] == "import_orders"]
    victim_tries = [(t[2], t[3], t[4]) for t in imports if t[0] == victim_run]
    assert [(number, host) for number, host, _ in victim_tries] == [
        (1, victim_host),
        (2, next(w for w in cluster.workers if w != victim_host)),
    ], f"the killed import's tries: {victim_tries}"
    assert victim_tries[-1][2] == "success"
    assert sorted((t[0], t[2]) for t in imports if t[0] != victim_run and t[4] == "success") == [
        (run_id, 1) for run_id in sorted(run_ids - {victim_run})
    ], "the other imports each succeeded at their first try"
    # One import at a time (the pool); the killed try's end is when the scheduler failed it.
    assert not overlapping([(t[5], t[6]) for t in imports if t[5] and t[6]]), pretty(imports)
    # A sensor whose import is already done at its first check does not defer (on a busy machine
    # the retried month's often is); the others wait deferred, in the triggerer, never retried.
    assert deferred, "no sensor was seen deferred in a triggerer"
    assert deferred <= run_ids
    # Retried only if Airflow's own resume race failed a resumed try (see AIRFLOW_RESUME_RACE).
    sensor_tries = [(t[0], t[2], t[4]) for t in every_try if t[1] == "wait_for_import"]
    succeeded = sorted(run for run, _, state in sensor_tries if state == "success")
    assert succeeded == sorted(run_ids), sensor_tries
    assert cluster.retries_not_from_the_resume_race(DAG_ID, "wait_for_import") == [], cluster.why_retried(
        "wait_for_import"
    )

    # ---- the ledger: every batch of every month, the killed try's two kept by its retry
    valid_per_month = ORDERS_PER_MONTH - 1
    batches_per_month = math.ceil(valid_per_month / BATCH_SIZE)
    action_ids = xcom(cluster, "import_orders")
    summaries = xcom(cluster, "import_orders", "import_summary")
    for run_id in run_ids:
        entries = ledger(cluster, run_id)
        assert sorted(entries) == list(range(batches_per_month)) or sorted(entries) == list(
            range(1, batches_per_month + 1)
        ), f"{run_id}: ledger batches {sorted(entries)}"
        recorded = [entries[number]["async_action_id"] for number in sorted(entries)]
        assert recorded == action_ids[run_id], f"{run_id}: ledger {recorded} vs XCom {action_ids[run_id]}"
        skipped = KILL_AFTER * BATCH_SIZE if run_id == victim_run else 0
        assert summaries[run_id]["skipped_on_retry"] == skipped, pretty(summaries[run_id])
        assert summaries[run_id]["sent"] == valid_per_month - skipped, pretty(summaries[run_id])

    # ---- what each month's verify found, the bucket, and the emulator
    for run_id, report in xcom(cluster, "verify").items():
        figures = (report["extracted"], report["rejected"], report["imported"], report["matched"])
        assert figures == (ORDERS_PER_MONTH, 1, valid_per_month, report["sampled"]), (run_id, report)
    keys = set(s3_server.keys(BUCKET))
    months = [date(2024, month, 1) for month in range(1, MONTHS + 1)]
    for month in months:
        # Each run stages in a folder of its own under its month's.
        runs = {key.rsplit("/", 1)[0] for key in keys if key.startswith(f"backfill/{DAG_ID}/{month:%Y-%m}/")}
        assert any({f"{run}/orders.jsonl.gz", f"{run}/rejects.jsonl"} <= keys for run in runs), sorted(keys)

    expected = valid_source_ids(postgres_server)
    state = end_state(emulator)
    stats = state.stats
    worker_tasks = ", ".join(f"{host} {count}" for host, count in sorted(hosts.items()))
    ROWS.append(
        Row(
            scenario=f"{MONTHS} months, 2 Celery workers, 1 SIGKILLed mid-import",
            months=len(runs),
            expected=len(expected),
            stored=len(state.source_ids),
            kills=1,
            lost=state.lost(expected),
            duplicated=state.duplicated(expected),
            imports=f"{stats['imports_accepted']} ({stats['duplicate_payloads']} repeated)",
            tasks=worker_tasks,
            deferred=f"{len(deferred)}/{MONTHS}",
            seconds=seconds,
        )
    )
    assert state.lost(expected) == 0
    assert state.duplicated(expected) == 0
    assert stats["orders_stored"] == len(expected) == MONTHS * valid_per_month
    assert stats["duplicate_payloads"] == 0, "a batch was sent twice"
    assert stats["imports_accepted"] == MONTHS * batches_per_month
