"""ReconcileOrdersOperator on a Sandbox plan (100 calls an hour): it finishes, reading each order once.

The emulator runs the Sandbox plan time-scaled (an hour lasts ``HOUR_REAL`` real seconds). After the
import, the plan's counts are reset at the top of an emulated hour, so the reconciliation's 102
reads (one action, the schema, 100 orders) meet the limit at the same place in every run: 100
calls pass, the 101st is refused until the next hour.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.exceptions import VoucherifyRateLimitError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.importing.source import OrderSource
from airflow_provider_voucherify.operators.reconcile_orders import (
    AirflowFailException,
    ReconcileOrdersOperator,
)
from airflow_provider_voucherify.reconcile.sample import draw_sample
from tests.airflow_helpers import point_connection, run_test_dag, xcoms
from tests.defer_floor import no_defer_floor  # noqa: F401 - a fixture
from tests.operators.conftest import assert_no_personal_data, order_dict, write_jsonl
from tests.operators.deferral import drive

pytestmark = pytest.mark.usefixtures("no_defer_floor")  # deferrals driven in-process

HOUR_REAL = 10.0  # real seconds per emulated hour: the hour's 100 calls fit in it on a slow machine
SCALE = 3600 / HOUR_REAL
ORDERS, SAMPLE, SEED = 300, 100, 7


class FakeTI:
    """Takes the one XCom a reconciliation pushes: the state of its deferral, for its resumption."""

    task_id, map_index = "reconcile", -1

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        assert key == "deferral_state", "the operator pushes nothing else but its return value"
        self.xcom[key] = value

    def xcom_pull(self, *, task_ids: str, key: str, map_indexes: int) -> Any:
        assert (task_ids, map_indexes) == (self.task_id, self.map_index)
        return self.xcom.get(key)


@pytest.fixture
def sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[EmulatorServer, Path, list[str]]]:
    """A time-scaled Sandbox emulator holding an import of ``ORDERS`` orders, its budget unspent."""
    path = write_jsonl(tmp_path / "orders.jsonl", (order_dict(n) for n in range(ORDERS)))
    with EmulatorServer(tmp_path / "emulator", plan="sandbox", time_scale=SCALE) as server:
        # The hook sleeps through no 429 here: the operator's own wait is what is tested.
        point_connection(monkeypatch, server, max_rate_limit_wait=0, max_retries=0)
        with OrderSource(str(path)) as source:
            ids = [VoucherifyHook().import_orders([json.loads(line) for _, line in source])]
        wait_for_actions(server, ids)
        server.advance_clock(to_top_of=3600)  # a known moment: the start of an emulated hour
        server.set_faults(plan="sandbox")  # forgets every count: 100 calls left in this hour
        emulated, real = server.clock()
        server.reopens = real + (math.ceil(emulated / 3600) * 3600 - emulated) / SCALE  # type: ignore[attr-defined]
        server.before = server.stats()["requests"]  # type: ignore[attr-defined]
        yield server, path, ids


def skip(server: EmulatorServer) -> Callable[[float], float]:
    """A deferral's wait on the emulator's clock: moved forward by the emulated time it lasts."""
    return lambda seconds: server.advance_clock(seconds * SCALE)


def drawn_ids(path: Path) -> set[str]:
    """The sample the operator must compare: drawn here with the same seed."""
    with OrderSource(str(path)) as source:
        _, sample = draw_sample(source, size=SAMPLE, seed=SEED)
    return {entry.source_id for entry in sample.orders}


def operator(path: Path, ids: list[str], **options: Any) -> ReconcileOrdersOperator:
    return ReconcileOrdersOperator(
        task_id="reconcile", orders=str(path), async_action_ids=ids, sample_size=SAMPLE, seed=SEED, **options
    )


def assert_every_sampled_order_read_once(server: EmulatorServer, summary: dict[str, Any]) -> None:
    before: dict[str, dict[str, int]] = getattr(server, "before", {})
    requests = {
        route: {status: n - before.get(route, {}).get(status, 0) for status, n in counts.items()}
        for route, counts in server.stats()["requests"].items()
    }
    assert requests["GET /v1/orders/{id}"] == {"200": SAMPLE, "429": 1}
    assert requests["GET /v1/async-actions/{id}"] == {"200": 1}  # not read again after the wait
    assert summary["sampled"] == summary["matched"] == summary["order_reads"] == SAMPLE
    assert summary["rate_limit_waits"] == 1


def test_deferrable_defers_until_the_window_reopens_and_compares_the_rest(
    sandbox: tuple[EmulatorServer, Path, list[str]], capfd: pytest.CaptureFixture[str]
) -> None:
    server, path, ids = sandbox

    run = drive(operator(path, ids, deferrable=True), {"ti": FakeTI()}, wait=skip(server))

    assert len(run.deferrals) == 1
    deferral = run.deferrals[0]
    classpath, _ = deferral.trigger.serialize()
    assert classpath == "airflow.providers.standard.triggers.temporal.DateTimeTrigger"
    assert deferral.method_name == "resume_reconciliation"
    state = deferral.kwargs["state"]
    # 100 calls in the hour: the action, the schema, 98 orders; the rest after the wait.
    assert len(state["result"]["compared"]) == 98
    assert set(state["drawn"]["sample_ids"]) == drawn_ids(path)
    assert state["seed"] == SEED
    assert_no_personal_data(json.dumps(deferral.kwargs))
    assert_every_sampled_order_read_once(server, run.result)
    # Deferred until the window reopens: the worker does not sleep through any of it (the hook's
    # max_rate_limit_wait is 0), however long this machine took to spend the hour's budget.
    assert deferral.trigger.moment.timestamp() == pytest.approx(server.reopens, abs=0.25)  # type: ignore[attr-defined]
    text = "".join(capfd.readouterr())
    assert "api_calls limit: reconciliation continues at" in text
    assert "2 order and action reads remain; deferring" in text
    assert "Continuing after a rate-limit wait: 98 of 100 sampled orders compared so far" in text


def test_a_deferral_resumed_without_its_kwargs_continues_from_the_state_it_stored(
    sandbox: tuple[EmulatorServer, Path, list[str]],
) -> None:
    # What dag.test() and `airflow dags test` do: the resumed method gets the trigger's event only.
    server, path, ids = sandbox
    ti = FakeTI()

    run = drive(operator(path, ids, deferrable=True), {"ti": ti}, drop_kwargs=True, wait=skip(server))

    assert len(run.deferrals) == 1
    assert ti.xcom["deferral_state"] == run.deferrals[0].kwargs
    assert_every_sampled_order_read_once(server, run.result)


def test_a_deferral_resumes_under_dag_test(
    airflow_db: Path, sandbox: tuple[EmulatorServer, Path, list[str]], capfd: pytest.CaptureFixture[str]
) -> None:
    server, path, ids = sandbox
    with DAG(
        "voucherify_reconcile_deferral_test", schedule=None, start_date=datetime(2024, 1, 1), catchup=False
    ) as dag:
        operator(path, ids, deferrable=True)

    dag_run = run_test_dag(dag)

    assert dag_run.state == "success", "".join(capfd.readouterr())[-3000:]
    summary = xcoms(dag_run, "reconcile")["return_value"]
    assert_every_sampled_order_read_once(server, summary)
    assert "Continuing after a rate-limit wait: 98 of 100 sampled orders compared so far" in "".join(
        capfd.readouterr()
    )


def test_without_deferrable_the_worker_waits_and_says_how_many_reads_remain(
    sandbox: tuple[EmulatorServer, Path, list[str]], capfd: pytest.CaptureFixture[str]
) -> None:
    server, path, ids = sandbox
    started = time.monotonic()

    summary = operator(path, ids, deferrable=False).execute({"ti": FakeTI()})  # type: ignore[arg-type]

    assert time.monotonic() - started > 0.5  # it waited for the next emulated hour
    assert_every_sampled_order_read_once(server, summary)
    text = "".join(capfd.readouterr())
    assert "2 order and action reads remain" in text
    assert "deferring" not in text
    assert "Window reopened: reconciliation continues" in text


def test_a_seedless_deferral_carries_the_seed_it_picked(
    sandbox: tuple[EmulatorServer, Path, list[str]],
) -> None:
    server, path, ids = sandbox
    reconcile = ReconcileOrdersOperator(
        task_id="reconcile", orders=str(path), async_action_ids=ids, sample_size=SAMPLE, deferrable=True
    )

    run = drive(reconcile, {"ti": FakeTI()}, wait=skip(server))

    picked = run.deferrals[0].kwargs["state"]["seed"]
    assert run.result["seed"] == picked
    with OrderSource(str(path)) as source:
        _, sample = draw_sample(source, size=SAMPLE, seed=picked)
    assert run.deferrals[0].kwargs["state"]["drawn"]["sample_ids"] == [o.source_id for o in sample.orders]
    assert_every_sampled_order_read_once(server, run.result)


def test_the_billing_cycle_quota_fails_at_once(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_connection(monkeypatch, emulator)
    path = write_jsonl(tmp_path / "orders.jsonl", (order_dict(n) for n in range(20)))
    ids = [VoucherifyHook().import_orders([order_dict(n) for n in range(20)])]
    wait_for_actions(emulator, ids)
    emulator.set_faults(plan="business", calls_per_cycle=2)  # the action and the schema, no order
    started = time.monotonic()

    with pytest.raises(AirflowFailException, match="billing cycle is used up") as caught:
        operator(path, ids, deferrable=True).execute({"ti": FakeTI()})  # type: ignore[arg-type]

    assert isinstance(caught.value.__cause__, VoucherifyRateLimitError)
    assert time.monotonic() - started < 10
    assert emulator.stats()["requests"]["GET /v1/orders/{id}"] == {"429": 1}


def test_actions_that_do_not_fit_in_one_window_are_read_once_waiting_in_the_worker(
    emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # 6 actions, 5 calls per (1-second) window: a deferral would read the actions again and meet
    # the limit again, for ever. So while reading them, the task waits in the worker; then it defers.
    point_connection(monkeypatch, emulator, max_rate_limit_wait=0, max_retries=0)
    orders = [order_dict(n) for n in range(30)]
    path = write_jsonl(tmp_path / "orders.jsonl", orders)
    hook = VoucherifyHook()
    ids = [hook.import_orders(orders[start : start + 5]) for start in range(0, 30, 5)]
    wait_for_actions(emulator, ids)
    emulator.set_faults(rate_limit_per_hour=5, retry_after_seconds=1)
    before = emulator.stats()["requests"]

    run = drive(
        ReconcileOrdersOperator(
            task_id="reconcile", orders=str(path), async_action_ids=ids, sample_size=10, deferrable=True
        ),
        {"ti": FakeTI()},
    )

    after = emulator.stats()["requests"]
    assert after["GET /v1/async-actions/{id}"]["200"] - before["GET /v1/async-actions/{id}"]["200"] == 6
    assert after["GET /v1/orders/{id}"]["200"] - before.get("GET /v1/orders/{id}", {}).get("200", 0) == 10
    assert run.result["sampled"] == run.result["matched"] == run.result["order_reads"] == 10
    assert run.deferrals  # once the actions were read
    assert all(d.kwargs["state"]["drawn"] is not None for d in run.deferrals)
    text = "".join(capfd.readouterr())
    assert "waiting in the worker: a deferral would read every action again" in text
