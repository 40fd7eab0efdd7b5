"""Fault matrix, answers from the API: rate limits, server errors, slow and lost answers, failed
imports and wrong credentials. Each case runs ImportOrdersOperator over real HTTP against the
emulator and checks what the emulator ends up holding."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.exceptions import (
    VoucherifyAuthError,
    VoucherifyError,
    VoucherifyTransportError,
    VoucherifyUnsafeRetryError,
)
from airflow_provider_voucherify.operators._task import AirflowFailException
from airflow_provider_voucherify.waiting import pacing
from tests.airflow_helpers import point_connection
from tests.faults.matrix import (
    ALL_SOURCE_IDS,
    BATCH_SIZE,
    BATCHES,
    ORDERS,
    Case,
    all_action_ids,
    finished,
    import_operator,
    run_task,
    source_id,
)
from tests.importing.test_ledger import DictStore
from tests.operators.conftest import order_dict, write_jsonl

IMPORT = "POST /v1/orders/import"


def requests_by_status(server: EmulatorServer, route: str = IMPORT) -> dict[str, int]:
    return dict(server.stats()["requests"].get(route, {}))


def answered(server: EmulatorServer, status_prefix: str) -> int:
    """Answers with a status starting with ``status_prefix`` (``"5"``, ``"429"``) on any route."""
    return sum(
        n
        for by_status in server.stats()["requests"].values()
        for status, n in by_status.items()
        if status.startswith(status_prefix)
    )


def batch_source_ids(number: int) -> set[str]:
    """The source ids of batch ``number`` (1-based) of the matrix's input."""
    first = (number - 1) * BATCH_SIZE + 1
    return {source_id(n) for n in range(first, first + BATCH_SIZE)}


# -- 1. a 429 storm ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One request as the client saw it: when it left, when its answer came back, and the answer."""

    sent: float
    answered: float
    path: str
    status: int
    retry_after: float | None


@pytest.fixture
def exchanges(monkeypatch: pytest.MonkeyPatch) -> list[Exchange]:
    """Every API request made through httpx, timed on the client side (the transport is not changed)."""
    seen: list[Exchange] = []
    original = httpx.HTTPTransport.handle_request

    def timed(transport: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        sent = time.monotonic()
        response = original(transport, request)
        if request.url.path.startswith("/v1/"):
            retry_after = response.headers.get("retry-after")
            seen.append(
                Exchange(
                    sent,
                    time.monotonic(),
                    request.url.path,
                    response.status_code,
                    float(retry_after) if retry_after else None,
                )
            )
        return response

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", timed)
    return seen


def test_429_storm_slows_the_run_down_by_at_least_what_the_api_asked(
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    orders_path: Path,
    exchanges: list[Exchange],
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = Case("429 storm, Retry-After")
    point_connection(monkeypatch, emulator, max_retries=20)
    # One-second windows: 2 imports and 3 calls of any kind per window, then 429 with Retry-After.
    emulator.set_faults(bulk_calls_per_hour=2, rate_limit_per_minute=3, retry_after_seconds=1)
    # The waiting budget's window is the fault's second, and the wait may spend all of it: the
    # result reads of a poll (one per batch) come in a burst that meets the limit.
    monkeypatch.setattr(pacing, "ASSUMED_WINDOW", 1.0)

    started = time.monotonic()
    ids = run_task(
        import_operator(
            orders_path, wait_for_completion=True, deferrable=False, poll_interval=0.05, api_budget_share=1.0
        )
    )
    elapsed = time.monotonic() - started

    limited = [(i, e) for i, e in enumerate(exchanges) if e.status == 429]
    assert len(limited) >= 2, "the rate limits should have been met"
    asked = 0.0
    for index, exchange in limited:
        assert exchange.retry_after is not None
        assert exchange.retry_after >= 1
        following = exchanges[index + 1]  # one worker thread: requests go one after another
        assert following.sent - exchange.answered >= exchange.retry_after, (exchange, following)
        asked += exchange.retry_after
    assert elapsed >= asked
    # The hook's own account of it (Airflow's task logging writes to stdout).
    log = capsys.readouterr().out
    waits = [float(w) for w in re.findall(r"answered 429; retry \d+ of 20 in ([\d.]+) s", log)]
    assert len(waits) == len(limited)
    assert min(waits) >= 1.0
    case.outcome = "success"
    case.note = f"{len(limited)} x 429, waited {elapsed:.1f} s >= {asked:.0f} s asked"
    case.record(emulator, ALL_SOURCE_IDS)
    assert len(ids) == BATCHES


# -- 2. server errors --------------------------------------------------------------------------


def test_30_percent_server_errors_are_retried_through(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, orders_path: Path
) -> None:
    case = Case("30% 500/502/503")
    point_connection(monkeypatch, emulator, max_retries=12)
    emulator.set_faults(error_rate=0.3, error_statuses=[500, 502, 503], seed=20240501)

    ids = run_task(
        import_operator(orders_path, wait_for_completion=True, deferrable=False, poll_interval=0.05)
    )

    errors, total = answered(emulator, "5"), emulator.stats()["total_requests"]
    imports = requests_by_status(emulator)
    # The seed decides: the first draws go to the imports, some of which fail before being read.
    assert sum(n for status, n in imports.items() if status.startswith("5")) > 0
    assert imports["200"] == BATCHES
    case.outcome = "success"
    case.note = f"{errors} of {total} answers 5xx (seeded), retried"
    case.record(emulator, ALL_SOURCE_IDS)
    assert len(ids) == BATCHES


# -- 3. answers slower than the client's timeout -----------------------------------------------


@pytest.fixture
def clear_faults_once_imports_reach() -> Iterator[Any]:
    """Start a watcher that clears the emulator's faults once it has accepted ``n`` imports."""
    threads: list[threading.Thread] = []
    stop = threading.Event()

    def start(server: EmulatorServer, n: int) -> None:
        def watch() -> None:
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                if server.stats()["imports_accepted"] >= n:
                    server.clear_faults()
                    return
                stop.wait(0.02)  # poll interval

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(10)


def test_answers_slower_than_the_timeout_are_retried_without_duplicating_orders(
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    orders_path: Path,
    clear_faults_once_imports_reach: Any,
) -> None:
    case = Case("latency > timeout, passing")
    point_connection(monkeypatch, emulator, timeout=1, max_retries=5)
    emulator.set_faults(latency_seconds=1.5, paths=["/v1/orders/import"])
    # The slowness passes once the server acted on a request whose answer the client gave up on.
    # (It does act on it: a batch of 1000 orders is far over uvicorn's 64 KiB read buffer, so the
    # body sits in the socket, read only after the latency, before the server sees the client go.)
    clear_faults_once_imports_reach(emulator, 1)

    ids = run_task(import_operator(orders_path))

    finished(emulator, ids)
    stats = emulator.stats()
    assert stats["imports_accepted"] > BATCHES, "a timed-out import should have reached the server"
    case.outcome = "success"
    case.note = f"{stats['imports_accepted'] - BATCHES} timed-out POSTs acted on; upserts"
    case.record(emulator, ALL_SOURCE_IDS, repeated_payloads=True)


def test_answers_always_slower_than_the_timeout_fail_clearly_and_a_retry_completes(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, orders_path: Path
) -> None:
    case = Case("latency > timeout, lasting")
    point_connection(monkeypatch, emulator, timeout=0.5, max_retries=1)
    emulator.set_faults(latency_seconds=1.0, paths=["/v1/orders/import"])

    with pytest.raises(VoucherifyTransportError, match=r"POST /v1/orders/import: ReadTimeout"):
        run_task(import_operator(orders_path))

    emulator.clear_faults()
    # The outage is over: the retry's answers come as fast as this machine allows, not within 0.5 s.
    point_connection(monkeypatch, emulator, timeout=30, max_retries=1)
    ids = run_task(import_operator(orders_path))  # the task's retry
    finished(emulator, ids)
    case.outcome = "1st try failed (ReadTimeout), retry success"
    case.note = "batch 1 resent by the retry; upserts"
    case.record(emulator, ALL_SOURCE_IDS, repeated_payloads=True)


# -- 4. answers lost after the server acted ----------------------------------------------------


def test_answers_lost_after_the_request_was_read_do_not_duplicate_orders(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, orders_path: Path
) -> None:
    case = Case("connection dropped after the POST was read")
    point_connection(monkeypatch, emulator, max_retries=10)
    emulator.set_faults(drop_rate=0.4, seed=4, paths=["/v1/orders/import"])

    ids = run_task(import_operator(orders_path))

    finished(emulator, ids)
    stats = emulator.stats()
    assert stats["dropped_responses"] > 0, "some answers should have been lost"
    # Each lost answer is a batch the server accepted and the client sent again.
    assert stats["imports_accepted"] == BATCHES + stats["dropped_responses"]
    assert stats["duplicate_payloads"] == stats["dropped_responses"]
    case.outcome = "success"
    case.note = f"{stats['dropped_responses']} answers lost, those batches resent; upserts"
    case.record(emulator, ALL_SOURCE_IDS, repeated_payloads=True)


def test_a_lost_answer_to_orders_without_source_id_fails_clearly_instead_of_resending(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    case = Case("answer lost, batch has orders w/o source_id")
    point_connection(monkeypatch, emulator, max_retries=10)
    emulator.set_faults(drop_rate=1.0, paths=["/v1/orders/import"])
    anonymous = 500  # order 500, in batch 1: that batch cannot be sent twice safely
    path = write_jsonl(
        tmp_path / "orders.jsonl",
        (
            order_dict(n, source_id=None) if n == anonymous else order_dict(n)
            for n in range(1, 3 * BATCH_SIZE + 1)
        ),
    )

    with pytest.raises(AirflowFailException, match="may or may not have been accepted") as failure:
        run_task(import_operator(path, require_source_id=False))

    # Not retried: a retry would send that batch again, which is what the hook refused to do.
    assert isinstance(failure.value.__cause__, VoucherifyUnsafeRetryError)
    assert "Give every order a source_id" in str(failure.value)
    assert requests_by_status(emulator) == {"200": 1}, "sent once, not again, and nothing after it"
    finished(emulator, all_action_ids(emulator))
    case.outcome = "failed, no retry: VoucherifyUnsafeRetryError"
    case.note = "batch 1 sent once (acted on), not resent; batches 2-3 not sent"
    case.record(emulator, batch_source_ids(1) - {source_id(anonymous)}, batches=1, anonymous=1)


# -- 8. imports that Voucherify fails ----------------------------------------------------------


def test_an_import_that_ends_failed_fails_the_task_and_its_retry_sends_that_batch_again(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, orders_path: Path
) -> None:
    case = Case("import ends FAILED")
    point_connection(monkeypatch, emulator)
    emulator.set_faults(fail_imports=1)  # the first import accepted fails as a whole
    store = DictStore()  # the task state store, as Airflow 3.3+ keeps it across tries
    operator = import_operator(orders_path, wait_for_completion=True, deferrable=False, poll_interval=0.05)

    with pytest.raises(VoucherifyError) as error:
        run_task(operator, store)

    actions = finished(emulator, all_action_ids(emulator))
    failed = [action for action in actions.values() if action["status"] == "FAILED"]
    assert len(failed) == 1
    assert len(actions) == BATCHES
    message = str(error.value)
    assert message.startswith(f"Import failed: Async action {failed[0]['id']} FAILED")
    assert f"request_id={failed[0]['request_id']}" in message
    # Nothing of the failed batch was half applied; every other batch is stored once.
    not_imported = batch_source_ids(1)
    case.outcome = "failed, names action + request_id"
    case.note = f"{len(not_imported)} orders of the FAILED action reported, not stored"
    state = case.record(emulator, ALL_SOURCE_IDS - not_imported)
    assert not_imported.isdisjoint(state.source_ids)

    retried = Case("import ends FAILED, task retried")
    ids = run_task(operator, store)
    finished(emulator, ids)
    stats = emulator.stats()
    assert (stats["imports_accepted"], stats["duplicate_payloads"]) == (BATCHES + 1, 1)
    retried.outcome = "success on retry"
    retried.note = "only the FAILED batch sent again (its body repeated once)"
    retried.record(emulator, ALL_SOURCE_IDS, repeated_payloads=True)


def test_an_import_done_with_failed_orders_fails_the_task_listing_them(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    case = Case("import DONE with failed orders")
    point_connection(monkeypatch, emulator)
    unknown_product = [{"product_id": "prod_does_not_exist", "quantity": 1, "price": 2500}]
    bad = {2500, 4100, 5999}
    path = write_jsonl(
        tmp_path / "orders.jsonl",
        (order_dict(n, items=unknown_product) if n in bad else order_dict(n) for n in range(1, ORDERS + 1)),
    )

    with pytest.raises(VoucherifyError) as error:
        run_task(
            import_operator(
                path, wait_for_completion=True, deferrable=False, poll_interval=0.05, max_failed_orders=2
            )
        )

    finished(emulator, all_action_ids(emulator))
    message = str(error.value)
    assert message.startswith("Import failed: 3 orders failed to import, more than max_failed_orders=2")
    for number in sorted(bad):
        assert f"source_id={source_id(number)}: Cannot find product" in message
    assert re.search(r"aa_\w+ \(request_id=v-\w+\): 1", message)
    rejected = {source_id(n) for n in bad}
    case.outcome = "failed, lists source_ids + reasons"
    case.note = "3 orders rejected by the API, reported, not stored"
    state = case.record(emulator, ALL_SOURCE_IDS - rejected)
    assert rejected.isdisjoint(state.source_ids)


# -- 9. wrong credentials ----------------------------------------------------------------------


def test_wrong_credentials_fail_at_once_without_retries(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, orders_path: Path
) -> None:
    case = Case("wrong credentials")
    wrong = "not-the-secret-key"
    point_connection(monkeypatch, emulator, password=wrong, max_retries=5)

    started = time.monotonic()
    with pytest.raises(AirflowFailException) as failure:
        run_task(import_operator(orders_path, wait_for_completion=True, deferrable=False))
    error = failure.value.__cause__
    assert isinstance(error, VoucherifyAuthError)

    assert time.monotonic() - started < 5
    assert error.status_code == 401
    assert wrong not in str(failure.value)
    assert emulator.stats()["total_requests"] == 1
    case.outcome = "failed, no retry: VoucherifyAuthError 401"
    case.note = "1 request, no retry, nothing imported"
    case.record(emulator, set(), batches=0)
