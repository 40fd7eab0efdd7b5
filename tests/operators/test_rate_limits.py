"""ImportOrdersOperator on a rate-limited plan: defer or wait for the window, continue, send nothing twice.

The deferral tests wait out each deferral on the emulator's clock (``drive(..., wait=skip(server))``):
moved forward to the trigger's moment, not slept to it. A deferral's moment that came before the window
reopened would meet a second 429, which the request counts would show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.exceptions import VoucherifyRateLimitError
from airflow_provider_voucherify.importing.plan_view import PlanView, batches_left
from airflow_provider_voucherify.operators._task import AirflowFailException
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from tests.defer_floor import no_defer_floor  # noqa: F401 - a fixture
from tests.operators.conftest import order_dict, write_jsonl
from tests.operators.deferral import drive
from tests.operators.test_import_orders import FakeTI, stored

pytestmark = pytest.mark.usefixtures("no_defer_floor")  # deferrals driven in-process

ORDERS = 50
BATCH = 5  # 10 batches
# The length of a bulk window (real seconds, from its first import): long enough for its three
# imports on a loaded machine, and never waited for in real time (see skip).
WINDOW = 30


@pytest.fixture
def orders_path(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "orders.jsonl.gz", (order_dict(n) for n in range(ORDERS)), gz=True)


def skip(server: EmulatorServer) -> Callable[[float], float]:
    """A deferral's wait on the emulator's clock (not time-scaled): moved forward by as long."""
    return lambda seconds: server.advance_clock(seconds)


def _operator(orders: Any, **kwargs: Any) -> ImportOrdersOperator:
    # No concurrency limit: the deferral itself is tested here on every Airflow (on 3.1 and 3.2.0 a
    # limited import waits in the worker instead: tests/operators/test_one_import_at_a_time.py).
    return ImportOrdersOperator(
        task_id="import_orders", orders=orders, batch_size=BATCH, max_active_tis_per_dag=None, **kwargs
    )


def test_bulk_limit_defers_until_the_window_reopens_and_continues(
    server: EmulatorServer, orders_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    server.set_faults(bulk_calls_per_hour=3, retry_after_seconds=WINDOW)  # 3 imports per window
    ti = FakeTI()
    run = drive(_operator(str(orders_path), deferrable=True), {"ti": ti}, wait=skip(server))
    ids = run.result
    assert len(ids) == len(set(ids)) == ORDERS // BATCH
    assert len(run.deferrals) == 3  # batches 4, 7 and 10 were refused once each
    for deferral in run.deferrals:
        classpath, _ = deferral.trigger.serialize()
        assert classpath == "airflow.providers.standard.triggers.temporal.DateTimeTrigger"
        assert deferral.method_name == "resume_import"
    positions = [d.kwargs["continuation"]["position"]["batch"] for d in run.deferrals]
    assert positions == [3, 6, 9]
    assert ti.xcom["import_summary"] == {
        "read": ORDERS, "valid": ORDERS, "invalid": 0, "sent": ORDERS, "skipped_on_retry": 0, "batches": 10,
    }  # fmt: skip
    stats = stored(server, ids)
    assert stats["imports_accepted"] == 10
    assert stats["requests"]["POST /v1/orders/import"] == {"200": 10, "429": 3}
    assert (
        stats["orders_received"] == stats["distinct_source_ids_received"] == stats["orders_stored"] == ORDERS
    )
    text = "".join(capfd.readouterr())
    assert "bulk_api_calls limit: batch 4 refused; it continues at" in text
    assert "deferring: the worker and the pool slot are free meanwhile" in text
    assert "Continuing after a rate-limit wait at batch 4" in text
    assert "bulk calls: 2 of 3 left in this window" in text


def test_a_deferral_resumed_without_its_kwargs_continues_at_the_refused_batch(
    server: EmulatorServer, orders_path: Path
) -> None:
    # What dag.test() and `airflow dags test` do: the resumed method gets the trigger's event only.
    # No task state store here either: the deferral's own XCom is what the import resumes from.
    server.set_faults(bulk_calls_per_hour=3, retry_after_seconds=WINDOW)
    ti = FakeTI()

    run = drive(_operator(str(orders_path), deferrable=True), {"ti": ti}, drop_kwargs=True, wait=skip(server))

    assert len(run.deferrals) == 3
    assert ti.xcom["deferral_state"] == run.deferrals[-1].kwargs
    stats = stored(server, run.result)
    assert stats["requests"]["POST /v1/orders/import"] == {"200": 10, "429": 3}
    assert stats["orders_received"] == ORDERS  # nothing sent twice


def test_without_deferrable_the_worker_waits_and_says_how_long(
    server: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    server.set_faults(bulk_calls_per_hour=4, retry_after_seconds=2)
    orders = [order_dict(n) for n in range(30)]  # 6 batches, the 5th refused
    ids = _operator(orders, deferrable=False).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    text = "".join(capfd.readouterr())
    assert len(set(ids)) == 6
    assert "batch 5 refused; it continues at" in text
    assert "about 2 batches remain" in text
    assert "Window reopened: sending batch 5 again" in text
    stats = stored(server, ids)
    assert stats["requests"]["POST /v1/orders/import"] == {"200": 6, "429": 1}
    assert stats["orders_stored"] == 30


def test_billing_cycle_quota_fails_at_once(server: EmulatorServer, orders_path: Path) -> None:
    # The cycle counts every call: the preflight's schema read, then two imports, then the 429.
    server.set_faults(plan="business", calls_per_cycle=3)
    started = time.monotonic()
    with pytest.raises(AirflowFailException, match="billing cycle is used up") as caught:
        _operator(str(orders_path), deferrable=True).execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert isinstance(caught.value.__cause__, VoucherifyRateLimitError)  # not retried: days away
    assert time.monotonic() - started < 10
    assert server.stats()["requests"]["POST /v1/orders/import"] == {"200": 2, "429": 1}


def test_plan_view_learns_the_window_and_gives_an_eta() -> None:
    plan = PlanView()
    assert plan.describe(10, now=0.0) == ""
    plan.refused(retry_at=3600.0, limit=10)  # 10 calls used up in the window ending at 01:00
    assert plan.left() == 10
    for _ in range(10):
        plan.accepted(now=3601.0)
    assert plan.left() == 0
    plan.refused(retry_at=7200.0, limit=10)
    assert (plan.period, plan.learned) == (3600.0, True)
    # 25 batches from 02:00: 10 at 02:00, 10 at 03:00, 5 at 04:00.
    assert plan.eta(25, now=7000.0) == 7200.0 + 2 * 3600
    assert plan.describe(25, now=7000.0) == (
        "bulk calls: 10 of 10 left in this window, next window 02:00:00Z, "
        "ETA 1970-01-01T04:00:00Z for 25 more batches at the plan's rate"
    )


def test_batches_left_is_exact_for_lists_and_estimated_for_files() -> None:
    assert batches_left(total=100, read=40, batch_size=20, batches_done=2, fraction=None) == 3
    assert batches_left(total=None, read=40, batch_size=20, batches_done=2, fraction=0.25) == 6
    assert batches_left(total=None, read=0, batch_size=20, batches_done=0, fraction=None) is None
