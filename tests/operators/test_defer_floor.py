"""A window seconds away is waited for in the worker, never deferred (apache/airflow#72716).

Airflow may resume a task deferred for a few seconds before the deferral is recorded and mark it
failed with nothing in its log; both operators defer only for waits of ``MIN_DEFER_SECONDS`` or more.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.operators import _reconcile_sample
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.rate_limits import MIN_DEFER_SECONDS, should_defer, sleep_until
from tests.airflow_helpers import LogLines
from tests.operators.conftest import order_dict
from tests.operators.deferral import drive
from tests.operators.test_import_orders import FakeTI, stored
from tests.operators.test_reconcile_rate_limits import (
    SCALE,
    sandbox,  # noqa: F401 - a fixture
)
from tests.operators.test_reconcile_rate_limits import FakeTI as ReconcileTI
from tests.operators.test_reconcile_rate_limits import operator as reconcile_operator


def test_the_floor_is_tens_of_seconds() -> None:
    assert 30 <= MIN_DEFER_SECONDS <= 120
    assert not should_defer(1000.0 + MIN_DEFER_SECONDS - 1, now=1000.0)
    assert should_defer(1000.0 + MIN_DEFER_SECONDS, now=1000.0)


def test_the_import_waits_for_a_window_seconds_away_in_the_worker(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.set_faults(bulk_calls_per_hour=3, retry_after_seconds=2)
    orders = [order_dict(n) for n in range(20)]  # 4 batches, the 4th refused for 2 s
    log = LogLines()  # the task's messages, whatever Airflow does with a task's log outside a run
    monkeypatch.setattr(ImportOrdersOperator, "log", property(lambda _: log.logger))
    operator = ImportOrdersOperator(
        task_id="i", orders=orders, batch_size=5, deferrable=True, max_active_tis_per_dag=None
    )  # no concurrency limit: the floor, not Airflow 3.1's limit rule, keeps it in the worker
    run = drive(operator, {"ti": FakeTI()})
    assert run.deferrals == []
    assert len(set(run.result)) == 4
    assert stored(server, run.result)["orders_stored"] == 20
    text = "\n".join(log.messages)
    assert f"waiting in the worker (a wait under {MIN_DEFER_SECONDS:.0f} s is not deferred)" in text


def test_the_reconciliation_waits_for_a_window_seconds_away_in_the_worker(
    sandbox: tuple[EmulatorServer, Path, list[str]],  # noqa: F811 - the fixture imported above
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, path, ids = sandbox  # the window reopens within 10 real seconds
    waits: list[tuple[float, float]] = []  # (the moment waited for, when the worker began the wait)

    def on_the_emulator_clock(seconds: float) -> None:
        server.advance_clock(seconds * SCALE)

    def wait_in_the_worker(moment: float) -> None:
        # The worker's wait, its sleep seam on the emulator's clock: moved forward to the moment
        # instead of slept to it.
        waits.append((moment, time.time()))
        sleep_until(moment, sleep=on_the_emulator_clock)

    monkeypatch.setattr(_reconcile_sample, "sleep_until", wait_in_the_worker)
    run = drive(reconcile_operator(path, ids, deferrable=True), {"ti": ReconcileTI()})
    assert run.deferrals == []
    # One wait in the worker, seconds away, until the window reopens.
    assert [moment for moment, _ in waits] == [pytest.approx(server.reopens, abs=0.25)]  # type: ignore[attr-defined]
    assert all(moment - began < MIN_DEFER_SECONDS for moment, began in waits)
    assert run.result["matched"] == run.result["sampled"] == 100
    text = "".join(capfd.readouterr())
    assert "reads remain; waiting in the worker (a wait under" in text
