"""A window seconds away is waited for in the worker, never deferred (apache/airflow#72716).

Airflow may resume a task deferred for a few seconds before the deferral is recorded and mark it
failed with nothing in its log; both operators defer only for waits of ``MIN_DEFER_SECONDS`` or more.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.rate_limits import MIN_DEFER_SECONDS, should_defer
from tests.airflow_helpers import LogLines
from tests.operators.conftest import order_dict
from tests.operators.deferral import drive
from tests.operators.test_import_orders import FakeTI, stored
from tests.operators.test_reconcile_rate_limits import FakeTI as ReconcileTI
from tests.operators.test_reconcile_rate_limits import operator as reconcile_operator
from tests.operators.test_reconcile_rate_limits import sandbox  # noqa: F401 - a fixture


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
) -> None:
    _, path, ids = sandbox  # the window reopens within 10 real seconds
    run = drive(reconcile_operator(path, ids, deferrable=True), {"ti": ReconcileTI()})
    assert run.deferrals == []
    assert run.result["matched"] == run.result["sampled"] == 100
    text = "".join(capfd.readouterr())
    assert "reads remain; waiting in the worker (a wait under" in text
