"""Fault matrix, plan limits: a bulk window spent mid-import (deferred, continued), and the billing
cycle's quota spent (fails at once, saying so)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.exceptions import VoucherifyRateLimitError
from airflow_provider_voucherify.operators._task import AirflowFailException
from tests.airflow_helpers import point_connection
from tests.defer_floor import no_defer_floor  # noqa: F401 - a fixture
from tests.faults.matrix import (
    ALL_SOURCE_IDS,
    BATCH_SIZE,
    BATCHES,
    Case,
    TaskInstance,
    import_operator,
    source_id,
)
from tests.importing.test_ledger import DictStore
from tests.operators.deferral import drive

pytestmark = pytest.mark.usefixtures("no_defer_floor")  # deferrals driven in-process

IMPORT = "POST /v1/orders/import"


def test_bulk_window_spent_mid_import_defers_and_continues(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, orders_path: Path
) -> None:
    case = Case("bulk window spent mid-import")
    # The hook never sleeps through a window here: every bulk 429 reaches the operator.
    point_connection(monkeypatch, emulator, max_retries=3, max_rate_limit_wait=0.1)
    emulator.set_faults(bulk_calls_per_hour=2, retry_after_seconds=4)  # 2 imports per 4-s window

    context = {"ti": TaskInstance(), "task_state_store": DictStore()}
    run = drive(import_operator(orders_path, deferrable=True), context)

    refused = emulator.stats()["requests"][IMPORT].get("429", 0)
    # One deferral per spent window; how many windows a slow machine spans is not fixed.
    assert 1 <= len(run.deferrals) == refused <= BATCHES // 2
    continued_at = [d.kwargs["continuation"]["position"]["batch"] for d in run.deferrals]
    assert continued_at == sorted(set(continued_at))
    assert all(batch >= 2 for batch in continued_at)  # a window takes two imports first
    assert len(set(run.result)) == BATCHES
    case.outcome = f"success after {len(run.deferrals)} deferrals"
    case.note = (
        f"{refused} x 429 bulk_api_calls; worker held {run.worker_seconds:.1f} s, "
        f"deferred {run.deferred_seconds:.1f} s"
    )
    case.record(emulator, ALL_SOURCE_IDS)


def test_billing_cycle_quota_spent_fails_at_once(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, orders_path: Path
) -> None:
    case = Case("billing cycle quota spent")
    point_connection(monkeypatch, emulator, max_retries=5, max_rate_limit_wait=3600)
    # The cycle counts every call: the preflight's schema read, then 3 imports, then the 429.
    emulator.set_faults(plan="business", calls_per_cycle=4)

    started = time.monotonic()
    with pytest.raises(AirflowFailException) as caught:  # failed, and not retried either
        drive(import_operator(orders_path, deferrable=True), {"ti": TaskInstance()})
    elapsed = time.monotonic() - started

    error = caught.value.__cause__
    assert isinstance(error, VoucherifyRateLimitError)
    assert error.limit_type == "api_calls_cycle"
    assert "quota of API calls for this billing cycle is used up" in str(error)
    assert "Waiting is pointless" in str(error)
    assert emulator.stats()["requests"][IMPORT] == {"200": 3, "429": 1}  # no retry, no wait
    assert elapsed < 30
    case.outcome = "failed at once (api_calls_cycle)"
    case.note = f"3 batches stored, then one 429; no wait ({elapsed:.1f} s)"
    accepted = {source_id(n) for n in range(1, 3 * BATCH_SIZE + 1)}
    case.record(emulator, accepted, batches=3)
