"""The backfill DAG on a real Airflow meeting a bulk-call limit: the import task defers.

The emulator runs a Sandbox project (one bulk call per calendar hour) at 30 emulated seconds per
real second, so an hour lasts 120 s: a refusal with more than ``MIN_DEFER_SECONDS`` (60 s) of its
window left defers the task (a shorter wait happens in the worker, since a deferral of seconds races
Airflow's resumption, apache/airflow#72716). Until the test has seen an import deferred, each time
an import task starts running it moves the emulator's clock to where the window has
``WINDOW_LEFT`` real seconds left and spends the window's only bulk call with a bulk customer
update, so the import's first call is refused with a 429 whenever Airflow gets to it (on a busy
machine that can be minutes after the start) and ``ImportOrdersOperator`` (``deferrable=True`` in
the example DAG) defers with a ``DateTimeTrigger`` until the window reopens. Once an import has
succeeded, the clock moves to the next window, so the other month's import does not wait for the
window its predecessor used (it may still meet the limit if it was quicker than the move). The
test sees the task ``deferred`` with its trigger claimed by the running triggerer, and both runs
finish with every valid order stored once and at most one refusal per import per window.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from scripts.demo import DAG_ID
from scripts.sample_warehouse import Warehouse, build_sqlite
from tests.e2e.airflow_cluster import AirflowCluster
from tests.e2e.backfill_cluster import example_dags_cluster
from tests.e2e.test_backfill_on_real_airflow import stored_source_ids, valid_source_ids

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

SCALE = 30
HOUR = 3600.0
# Real seconds of its window left when the test spends a window: more than MIN_DEFER_SECONDS (60 s)
# by the seconds an import may take from running to its first bulk call on a busy machine.
WINDOW_LEFT = 75.0
TIME_TRIGGER = "airflow.providers.standard.triggers.temporal.DateTimeTrigger"


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return build_sqlite(tmp_path / "warehouse.db", months=2, orders_per_month=30, seed=5)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[EmulatorServer]:
    with EmulatorServer(tmp_path / "emulator", plan="sandbox", time_scale=SCALE) as server:
        yield server


@pytest.fixture
def cluster(tmp_path: Path, warehouse: Warehouse, sandbox: EmulatorServer) -> Iterator[AirflowCluster]:
    # The hook sleeps at most an emulated minute on a 429: a bulk window defers the task instead.
    conn = {**json.loads(sandbox.conn_json), "extra": {"max_rate_limit_wait": 60 / SCALE}}
    with example_dags_cluster(
        tmp_path, json.dumps(conn), start=date(2024, 1, 1), end=date(2024, 2, 29), sample_size=5
    ) as airflow:
        yield airflow


def test_import_defers_on_a_bulk_limit_and_finishes_after_the_window(
    cluster: AirflowCluster, warehouse: Warehouse, sandbox: EmulatorServer, tmp_path: Path
) -> None:
    claimed: set[tuple[str, str]] = set()
    started = sandbox.clock()[0]
    spent: set[int] = set()  # the windows whose bulk call the test spent
    moved_on = False  # the clock moved past the window of the first successful import

    def spend_the_window_of_a_starting_import() -> None:
        running = cluster.query(
            "SELECT run_id FROM task_instance WHERE dag_id = ? AND task_id = 'import_orders'"
            " AND state = 'running'",
            DAG_ID,
        )
        if claimed or not running or int(sandbox.clock()[0] // HOUR) in spent:
            return
        # WINDOW_LEFT real seconds before the end of a new window, then its one bulk call spent by
        # another kind of bulk call.
        now = sandbox.advance_clock_to_window_end(WINDOW_LEFT * SCALE, window=HOUR)
        spent.add(int(now // HOUR))
        with sandbox.client() as client:
            client.post("/v1/customers/bulk/async", json=[{"source_id": f"e2e-{len(spent)}"}])

    def both_runs_finished() -> list[tuple[Any, ...]] | None:
        nonlocal moved_on
        spend_the_window_of_a_starting_import()
        if claimed and not moved_on and sandbox.stats()["requests"]["POST /v1/orders/import"].get("200"):
            sandbox.advance_clock(to_top_of=HOUR)  # the next import needs no window of its own
            moved_on = True
        # The import deferred, and its trigger claimed by a running triggerer (triggerer_id set).
        for run_id, classpath, triggerer_id in cluster.query(
            "SELECT ti.run_id, t.classpath, t.triggerer_id FROM task_instance ti"
            ' LEFT JOIN "trigger" t ON t.id = ti.trigger_id'
            " WHERE ti.dag_id = ? AND ti.task_id = 'import_orders' AND ti.state = 'deferred'",
            DAG_ID,
        ):
            if triggerer_id is not None:
                claimed.add((run_id, classpath))
        runs = cluster.query("SELECT run_id, state FROM dag_run WHERE dag_id = ?", DAG_ID)
        failed = [run for run in runs if run[1] == "failed"]
        if failed:
            raise AssertionError(f"runs failed: {failed}\n{cluster.logs()}")
        return runs if len(runs) == 2 and all(run[1] == "success" for run in runs) else None

    cluster.wait_for("both monthly runs to succeed", both_runs_finished, timeout=600, interval=0.1)

    # At least one import met the limit, waited in the triggerer, and was resumed (not retried).
    assert claimed, "no import task was seen deferred on a time trigger"
    assert {classpath for _, classpath in claimed} == {TIME_TRIGGER}
    tries = cluster.query(
        "SELECT state FROM task_instance WHERE dag_id = ? AND task_id = 'import_orders'", DAG_ID
    )
    assert tries == [("success",), ("success",)]
    # Retried only if Airflow's own resume race failed a resumed try (see AIRFLOW_RESUME_RACE).
    assert cluster.retries_not_from_the_resume_race(DAG_ID, "import_orders") == [], cluster.why_retried(
        "import_orders"
    )
    stats = sandbox.stats()
    imports = stats["requests"]["POST /v1/orders/import"]
    assert imports["200"] == 2
    # At most one refusal per import per window: each waits for the next window once refused.
    windows = int(sandbox.clock()[0] // HOUR) - int(started // HOUR) + 1
    assert 1 <= imports.get("429", 0) <= 2 * windows, f"{imports} in {windows} windows"
    # The windows the clock skipped saw no call: every refusal met a window the test spent, but one
    # of the other month's import if it came before the clock moved on.
    assert imports.get("429", 0) <= len(spent) + 1, f"{imports}, {len(spent)} windows spent"
    assert stats["duplicate_payloads"] == 0
    assert stored_source_ids(sandbox) == valid_source_ids(tmp_path / "warehouse.db")
