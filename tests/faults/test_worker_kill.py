"""Fault matrix, the worker process killed mid-import: the retried task resumes from the batches
recorded in the task state store (Airflow 3.3+), sending none of them twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.version import Version

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from tests.airflow_helpers import point_connection
from tests.conftest import ROOT
from tests.faults.matrix import ALL_SOURCE_IDS, BATCH_SIZE, BATCHES, ORDERS, Case, finished

KILL_AFTER = 2  # batches

pytestmark = pytest.mark.skipif(
    Version(version("apache-airflow")).release < (3, 3), reason="task_state_store arrived in Airflow 3.3"
)


def start_try(mode: str, dag_id: str, orders: Path, log: Path) -> subprocess.Popen[bytes]:
    """The ``first`` try or the ``retry`` of the task in its own process group, output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.faults.worker_task", mode, dag_id, str(orders)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def recorded_batches(dag_id: str) -> int:
    """Batches the running try has recorded in the task state store (read from the metadata DB)."""
    database = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM task_state_store WHERE dag_id = ? AND key LIKE 'voucherify_import/batch/%'",
            (dag_id,),
        ).fetchone()
    return int(count)


def test_a_killed_worker_is_retried_from_the_recorded_batches(
    airflow_db: Path,
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    orders_path: Path,
    tmp_path: Path,
) -> None:
    case = Case("worker SIGKILLed, task retried")
    # Two imports go through, then the worker sleeps on a long Retry-After (max_rate_limit_wait
    # allows it): no request is in flight.
    point_connection(monkeypatch, emulator, max_retries=3, max_rate_limit_wait=3600)
    emulator.set_faults(bulk_calls_per_hour=KILL_AFTER, retry_after_seconds=600)
    dag_id = f"voucherify_fault_kill_{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"

    worker = start_try("first", dag_id, orders_path, log)
    try:
        deadline = time.monotonic() + 90
        while not (
            recorded_batches(dag_id) == KILL_AFTER
            and emulator.stats()["requests"].get("POST /v1/orders/import", {}).get("429")
        ):
            assert worker.poll() is None, f"the first try ended on its own:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the first try made no progress:\n{log.read_text()[-3000:]}"
            time.sleep(0.05)  # poll interval
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker dies: no clean-up, no failure handling
        worker.wait(30)
    assert emulator.stats()["imports_accepted"] == KILL_AFTER

    emulator.clear_faults()
    retry = start_try("retry", dag_id, orders_path, log)
    assert retry.wait(120) == 0, log.read_text()[-3000:]
    result = json.loads(log.read_text().rsplit("RESULT ", 1)[1].splitlines()[0])

    assert result["state"] == "success"
    assert result["try_number"] == 2
    assert result["import_summary"]["skipped_on_retry"] == KILL_AFTER * BATCH_SIZE
    assert result["import_summary"]["sent"] == ORDERS - KILL_AFTER * BATCH_SIZE
    assert len(set(result["return_value"])) == BATCHES
    finished(emulator, result["return_value"])
    case.outcome = "success on retry (try 2)"
    case.note = f"killed after {KILL_AFTER} recorded batches; retry sent the other {BATCHES - KILL_AFTER}"
    case.record(emulator, ALL_SOURCE_IDS)
