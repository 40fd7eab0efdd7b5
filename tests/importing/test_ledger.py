"""The ledger of accepted batches and the one rule deciding which of them a later try skips."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.importing.batching import Batch
from airflow_provider_voucherify.importing.ledger import (
    CLOCK_MARGIN,
    KEY_PREFIX,
    BatchLedger,
    Project,
    decide,
    new_entry,
    state_check,
)
from airflow_provider_voucherify.models import ActionStatus, AsyncAction
from airflow_provider_voucherify.waiting.runners import run_calls
from airflow_provider_voucherify.waiting.tracker import Fetch, ListPage
from tests.airflow_helpers import point_connection
from tests.waiting.emulators import order

PROJECT = Project("https://api.voucherify.io", "app-1")
OTHER = Project("https://us1.api.voucherify.io", "app-1")
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)


class DictStore:
    """The part of Airflow's task state store the ledger uses, kept in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.gets: list[str] = []

    def get(self, key: str, default: Any = None) -> Any:
        self.gets.append(key)
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        assert value is not None
        self.data[key] = value


def batch(number: int, body: bytes = b"[{}]") -> Batch:
    return Batch(number, body, 1, True)


def entry(number: int, action_id: str, project: Project = PROJECT, **extra: Any) -> dict[str, Any]:
    return {**new_entry(batch(number), action_id, project, T0 + timedelta(seconds=number)), **extra}


# -- the rule ----------------------------------------------------------------------------------


def test_an_entry_holds_the_project_and_never_the_token() -> None:
    recorded = new_entry(batch(1), "aa_1", PROJECT, T0)

    assert recorded == {
        "fingerprint": batch(1).fingerprint,
        "async_action_id": "aa_1",
        "base_url": "https://api.voucherify.io",
        "app_id": "app-1",
        "accepted_at": "2024-05-01T10:00:00+00:00",
    }


@pytest.mark.parametrize("status", [ActionStatus.DONE, ActionStatus.IN_PROGRESS, ActionStatus.ENQUEUED])
def test_a_batch_of_the_same_project_not_failed_is_skipped(status: ActionStatus) -> None:
    decision = decide(entry(1, "aa_1"), batch(1), PROJECT, {"aa_1": status})

    assert decision.async_action_id == "aa_1"
    assert status.value in decision.reason


@pytest.mark.parametrize(
    ("recorded", "states", "why"),
    [
        (None, {}, "not sent by an earlier try"),
        (entry(1, "aa_1", fingerprint="other"), {"aa_1": ActionStatus.DONE}, "content changed"),
        (entry(1, "aa_1"), {"aa_1": ActionStatus.FAILED}, "aa_1, which ended FAILED"),
        (entry(1, "aa_1", failed=True), {"aa_1": ActionStatus.DONE}, "ended FAILED"),
        (entry(1, "aa_1"), {"aa_1": None}, "does not know"),
        (entry(1, "aa_1"), {}, "does not know"),
        (entry(1, "aa_1", OTHER), {"aa_1": ActionStatus.DONE}, "another project"),
        ({"fingerprint": batch(1).fingerprint, "async_action_id": "aa_1"}, {}, "another project"),
    ],
    ids=["never", "changed", "failed", "marked", "404", "unread", "moved", "no-project"],
)
def test_any_other_batch_is_sent_again(recorded: Any, states: dict[str, Any], why: str) -> None:
    decision = decide(recorded, batch(1), PROJECT, states)

    assert decision.async_action_id is None
    assert why in decision.reason


# -- reading the states cheaply ----------------------------------------------------------------


def action(action_id: str, status: str, created: datetime) -> AsyncAction:
    return AsyncAction(id=action_id, status=ActionStatus(status), created_at=created)


def drive(plan: Any, answer: Any) -> list[Any]:
    """Run ``plan`` answering each call with ``answer(call)``; the calls made and the result."""
    calls, reply = [], None
    try:
        while True:
            call = plan.send(reply)
            calls.append(call)
            reply = answer(call)
    except StopIteration as stop:
        return [calls, stop.value]


def test_one_list_call_reads_up_to_100_recorded_actions() -> None:
    entries = [entry(n, f"aa_{n}") for n in range(1, 101)]
    page = [action(f"aa_{n}", "FAILED" if n == 7 else "DONE", T0) for n in range(100, 0, -1)]

    calls, states = drive(state_check(entries), lambda call: page)

    assert calls == [ListPage(T0 + timedelta(seconds=100) + CLOCK_MARGIN)]
    assert states["aa_7"] is ActionStatus.FAILED
    assert len(states) == 100


def test_ids_the_list_window_did_not_show_are_fetched_and_404_is_unknown() -> None:
    entries = [entry(1, "aa_1"), entry(2, "aa_2"), entry(3, "aa_gone")]

    def answer(call: Any) -> Any:
        if isinstance(call, ListPage):
            return [action("aa_2", "DONE", T0)]  # a short page: nothing older to see
        return action("aa_1", "ENQUEUED", T0) if call.async_action_id == "aa_1" else None

    calls, states = drive(state_check(entries), answer)

    assert calls[1:] == [Fetch("aa_1"), Fetch("aa_gone")]
    assert states == {"aa_2": ActionStatus.DONE, "aa_1": ActionStatus.ENQUEUED, "aa_gone": None}


def test_one_recorded_action_is_read_with_its_own_get() -> None:
    calls, _ = drive(state_check([entry(1, "aa_1")]), lambda call: action("aa_1", "DONE", T0))

    assert calls == [Fetch("aa_1")]


def test_pages_follow_the_oldest_entry_until_every_id_is_seen() -> None:
    entries = [entry(n, f"aa_{n}") for n in range(1, 151)]
    newer = [action(f"aa_new_{n}", "DONE", T0 + timedelta(hours=1)) for n in range(100)]
    ours = [action(f"aa_{n}", "DONE", T0 + timedelta(seconds=n)) for n in range(150, 0, -1)]
    pages = iter([newer, ours[:100]])

    calls, states = drive(
        state_check(entries), lambda call: next(pages, []) if isinstance(call, ListPage) else None
    )

    assert calls[1] == ListPage(T0 + timedelta(hours=1))
    assert [type(c) for c in calls] == [ListPage, ListPage] + [Fetch] * 50
    assert sum(state is ActionStatus.DONE for state in states.values()) == 100


# -- the ledger in a store ---------------------------------------------------------------------


def test_reading_stops_at_the_first_batch_never_recorded() -> None:
    store = DictStore()
    first = BatchLedger(store, PROJECT)
    for number in (1, 2):
        first.record(batch(number), f"aa_{number}")

    assert list(BatchLedger(store, PROJECT).recall()) == [1, 2]
    assert store.gets == [f"{KEY_PREFIX}{n}" for n in (1, 2, 3)]


def test_resume_false_reads_nothing_and_records_anew() -> None:
    store = DictStore()
    BatchLedger(store, PROJECT).record(batch(1), "aa_1")
    fresh = BatchLedger(store, PROJECT, resume=False)

    assert fresh.recall() == {}
    fresh.record(batch(1), "aa_2")
    assert store.data[f"{KEY_PREFIX}1"]["async_action_id"] == "aa_2"


def test_without_a_store_nothing_is_skipped_or_recorded() -> None:
    ledger = BatchLedger(None, PROJECT)
    ledger.record(batch(1), "aa_1")
    assert ledger.recall() == {}
    assert ledger.accepted(batch(1)) is None


@pytest.mark.parametrize(("resend_safe", "warns_of_duplicates"), [(True, False), (False, True)])
def test_a_missing_store_is_logged_once(
    caplog: pytest.LogCaptureFixture, resend_safe: bool, warns_of_duplicates: bool
) -> None:
    log = logging.getLogger("test")
    with caplog.at_level(logging.WARNING):
        ledger = BatchLedger.from_context({}, log, project=PROJECT, resend_safe=resend_safe)
        ledger.accepted(batch(1))
        ledger.record(batch(1), "aa_1")
    assert ledger.store is None
    assert len(caplog.records) == 1
    assert "source_id upserts" in caplog.text
    assert ("imported twice" in caplog.text) is warns_of_duplicates


def test_the_context_store_is_used_when_present() -> None:
    store = DictStore()
    ledger = BatchLedger.from_context(
        {"task_state_store": store}, logging.getLogger("t"), project=PROJECT, resend_safe=True
    )
    assert ledger.store is store


def test_forget_failed_marks_the_batch_and_later_ones_are_still_read() -> None:
    store = DictStore()
    first = BatchLedger(store, PROJECT)
    for number in (1, 2, 3):
        first.record(batch(number), f"aa_{number}")

    assert first.forget_failed({"aa_2"}) == 1
    retry = BatchLedger(store, PROJECT)
    retry.recall()
    assert [e["async_action_id"] for e in retry.to_check()] == ["aa_1", "aa_3"]


def test_the_ledger_asks_the_api_which_recorded_imports_failed(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_connection(monkeypatch, emulator)
    hook = VoucherifyHook()
    project = Project(hook.settings.base_url, hook.settings.app_id)
    store = DictStore()
    first = BatchLedger(store, project)
    emulator.set_faults(fail_imports=1)
    for number in (1, 2, 3):
        first.record(batch(number), hook.import_orders([order(f"o-{number}")]))
    emulator.clear_faults()
    store.data[f"{KEY_PREFIX}4"] = entry(4, "aa_unknown_here", project)
    wait_for_actions(emulator, [store.data[f"{KEY_PREFIX}{n}"]["async_action_id"] for n in (1, 2, 3)])
    before = emulator.stats()["total_requests"]

    retry = BatchLedger(store, project)
    states = retry.check(hook)
    hook.close()

    assert [retry.accepted(batch(n)) is not None for n in (1, 2, 3, 4)] == [False, True, True, False]
    assert sorted(str(s and s.value) for s in states.values()) == ["DONE", "DONE", "FAILED", "None"]
    # One list call for the four, one GET for the id it did not show (a 404).
    assert emulator.stats()["total_requests"] - before == 2
    assert emulator.stats()["requests"]["GET /v1/async-actions/{id}"]["404"] == 1


def test_the_state_check_lets_errors_but_404_through(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_voucherify.exceptions import VoucherifyAuthError

    point_connection(monkeypatch, emulator, password="wrong")
    hook = VoucherifyHook()
    with pytest.raises(VoucherifyAuthError):
        run_calls(hook, state_check([entry(1, "aa_1")]))
    hook.close()
