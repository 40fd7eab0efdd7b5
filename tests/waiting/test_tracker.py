"""Polling on a budget: the tracker's call plan (pure), and the plan's cost against the emulator."""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.exceptions import (
    VoucherifyTransportError,
)
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.models import ActionStatus, AsyncAction, parse_action_list
from airflow_provider_voucherify.waiting.planner import error_backoff
from airflow_provider_voucherify.waiting.runners import ProgressLog, poll_once
from airflow_provider_voucherify.waiting.tracker import (
    FINE_WINDOW_MARGIN,
    LIST_PAGE_SIZE,
    SHORT_PAGE_EXTRA,
    WINDOW_MARGIN,
    ActionTracker,
    action_ids,
)
from airflow_provider_voucherify.waiting.verdict import Outcome
from tests.waiting.emulators import queue_imports, requests, slow_emulator, slow_emulator_server  # noqa: F401

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


class FakeApi:
    """The two reads of the hook over an in-memory project, recording each call (newest first lists)."""

    def __init__(self, count: int = 0, *, others_after: int = 0, spacing: float = 1.0) -> None:
        self.actions: dict[str, dict[str, Any]] = {}
        self.spacing = spacing  # seconds between two creations
        self.end_date_precision: timedelta | None = None  # an API that truncates end_date
        self.calls: list[tuple[str, Any]] = []
        self.limits: list[int] = []  # the limit of each list call
        self.errors: list[Exception | None] = []  # one per call, in order; None lets a call through
        for n in range(count):
            self.add(f"aa_{n:04d}")
        for n in range(others_after):
            self.add(f"other_{n:04d}")

    def add(self, action_id: str, status: str = "ENQUEUED") -> None:
        created = T0 + timedelta(seconds=len(self.actions) * self.spacing)
        self.actions[action_id] = {
            "id": action_id,
            "type": "ORDERS.IMPORT",
            "status": status,
            "created_at": created.isoformat(),
            "request_id": f"v-{action_id}",
        }

    def finish(self, *ids: str, status: str = "DONE", failed: int = 0) -> None:
        for action_id in ids:
            self.actions[action_id].update(status=status, progress=100)
            failures = [{"source_id": f"{action_id}-{n}", "reason": "bad"} for n in range(failed)]
            self.actions[action_id]["result"] = {"done_count": 1, "failed_count": failed, "failed": failures}

    def _raise(self) -> None:
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error

    def list_async_actions(
        self, limit: int = 100, end_date: datetime | None = None, ids: frozenset[str] | None = None
    ) -> list[AsyncAction]:
        self.calls.append(("list", end_date))
        self.limits.append(limit)
        self._raise()
        newest_first = sorted(self.actions.values(), key=lambda a: a["created_at"], reverse=True)
        if end_date is not None and self.end_date_precision is not None:
            end_date = T0 + (end_date - T0) // self.end_date_precision * self.end_date_precision
        if end_date is not None:
            newest_first = [a for a in newest_first if datetime.fromisoformat(a["created_at"]) < end_date]
        # List entries carry no result.
        entries = [{k: v for k, v in a.items() if k != "result"} for a in newest_first[:limit]]
        # As the hook answers: only the entries asked for are validated, the page's shape is kept.
        return parse_action_list(json.dumps({"async_actions": entries}).encode(), ids)

    def get_async_action(self, async_action_id: str) -> AsyncAction:
        self.calls.append(("get", async_action_id))
        self._raise()
        return AsyncAction.model_validate(self.actions[async_action_id])

    def kinds(self) -> list[str]:
        kinds = [kind for kind, _ in self.calls]
        self.calls.clear()
        return kinds


def ids(count: int) -> list[str]:
    return [f"aa_{n:04d}" for n in range(count)]


def test_k_unfinished_actions_cost_ceil_k_over_100_list_calls() -> None:
    api = FakeApi(250)
    verdict = poll_once(api, ActionTracker(ids(250)))  # type: ignore[arg-type]

    assert verdict.status is Outcome.RUNNING
    assert api.kinds() == ["list"] * 3


def test_pages_follow_the_created_at_of_the_last_entry() -> None:
    api = FakeApi(250)
    poll_once(api, ActionTracker(ids(250)))  # type: ignore[arg-type]

    cursors = [end_date for _, end_date in api.calls]
    assert cursors == [None, T0 + timedelta(seconds=150), T0 + timedelta(seconds=50)]


def test_paging_stops_once_every_pending_id_is_seen() -> None:
    api = FakeApi(300)
    poll_once(api, ActionTracker(ids(300)[-150:]))  # type: ignore[arg-type]

    assert api.kinds() == ["list", "list"]


def test_a_short_page_ends_paging_and_unseen_ids_fall_back_to_their_own_get() -> None:
    api = FakeApi(3)
    api.add("aa_old_hidden")
    tracker = ActionTracker(["aa_0000", "aa_0001", "aa_old_hidden"])
    real_list = api.list_async_actions
    # An action the list window does not show (older than it reaches, say).
    api.list_async_actions = lambda **kw: [a for a in real_list(**kw) if a.id != "aa_old_hidden"]  # type: ignore[method-assign]

    poll_once(api, tracker)  # type: ignore[arg-type]

    assert api.calls == [("list", None), ("get", "aa_old_hidden")]


def test_an_action_is_read_in_full_once_when_it_first_becomes_final() -> None:
    api = FakeApi(5)
    tracker = ActionTracker(ids(5))
    poll_once(api, tracker)  # type: ignore[arg-type]
    api.kinds()
    api.finish("aa_0001", "aa_0003")

    poll_once(api, tracker)  # type: ignore[arg-type]
    assert api.calls[1:] == [("get", "aa_0001"), ("get", "aa_0003")]
    api.kinds()

    poll_once(api, tracker)  # type: ignore[arg-type]
    assert api.kinds() == ["list"]


def test_the_list_window_starts_just_after_the_newest_pending_action() -> None:
    api = FakeApi(3, others_after=250)
    tracker = ActionTracker(ids(3))
    poll_once(api, tracker)  # type: ignore[arg-type]  # the first cycle knows no creation dates
    api.calls.clear()

    poll_once(api, tracker)  # type: ignore[arg-type]

    assert api.calls == [("list", T0 + timedelta(seconds=2) + FINE_WINDOW_MARGIN)]


def test_a_burst_of_imports_queued_after_ours_costs_no_extra_page() -> None:
    api = FakeApi(3, others_after=250, spacing=0.001)  # 250 more queued within a quarter second
    tracker = ActionTracker(ids(3))
    poll_once(api, tracker)  # type: ignore[arg-type]  # knows no creation dates: GETs the three
    api.calls.clear()

    poll_once(api, tracker)  # type: ignore[arg-type]

    assert api.kinds() == ["list"]


def test_once_the_window_starts_at_the_pending_actions_a_short_page_is_asked() -> None:
    api = FakeApi(3, others_after=250)
    tracker = ActionTracker(ids(3))
    poll_once(api, tracker)  # type: ignore[arg-type]  # the newest entries may be anyone's
    api.finish("aa_0000")
    poll_once(api, tracker)  # type: ignore[arg-type]
    api.kinds()

    poll_once(api, tracker)  # type: ignore[arg-type]

    assert api.kinds() == ["list"]
    assert api.limits == [LIST_PAGE_SIZE, 3 + SHORT_PAGE_EXTRA, 2 + SHORT_PAGE_EXTRA]


def test_others_actions_among_ours_make_short_pages_read_on_with_full_pages() -> None:
    api = FakeApi(1)
    for n in range(SHORT_PAGE_EXTRA + 5):
        api.add(f"other_{n:04d}")
    api.add("aa_0001")
    api.add("aa_0002")
    tracker = ActionTracker(ids(3))
    poll_once(api, tracker)  # type: ignore[arg-type]
    api.kinds()

    poll_once(api, tracker)  # type: ignore[arg-type]
    # The short page holds 2 of ours and others: one more page, no GET, no extra call later.
    assert api.kinds() == ["list", "list"]
    assert api.limits[1:] == [3 + SHORT_PAGE_EXTRA, LIST_PAGE_SIZE]

    poll_once(api, tracker)  # type: ignore[arg-type]
    assert api.kinds() == ["list"]
    assert api.limits[3:] == [LIST_PAGE_SIZE]
    assert tracker.verdict().status is Outcome.RUNNING


def test_an_api_reading_end_date_in_seconds_widens_the_window_once() -> None:
    api = FakeApi(3, spacing=0.3)
    api.end_date_precision = timedelta(seconds=1)  # T0+0.601 s reads as T0: cuts everything off
    tracker = ActionTracker(ids(3))
    poll_once(api, tracker)  # type: ignore[arg-type]
    api.calls.clear()

    poll_once(api, tracker)  # type: ignore[arg-type]
    assert api.kinds() == ["list", "get", "get", "get"]

    poll_once(api, tracker)  # type: ignore[arg-type]
    assert api.calls == [("list", T0 + timedelta(seconds=0.6) + WINDOW_MARGIN)]


def test_a_single_unfinished_action_is_read_with_one_get_only() -> None:
    api = FakeApi(1)
    tracker = ActionTracker(ids(1))
    assert poll_once(api, tracker).status is Outcome.RUNNING  # type: ignore[arg-type]
    api.finish("aa_0000")

    assert poll_once(api, tracker).status is Outcome.SUCCESS  # type: ignore[arg-type]
    assert api.kinds() == ["get", "get"]


def test_a_done_import_over_the_tolerance_fails_the_wait_early() -> None:
    api = FakeApi(3)
    api.finish("aa_0000", failed=2)

    verdict = poll_once(api, ActionTracker(ids(3), max_failed_orders=1))  # type: ignore[arg-type]

    assert verdict.status is Outcome.FAILED
    assert "aa_0000-0" in verdict.message


def test_without_eager_results_done_actions_are_read_only_once_all_are_final() -> None:
    api = FakeApi(3)
    tracker = ActionTracker(ids(3), eager_results=False)
    api.finish("aa_0000")
    poll_once(api, tracker)  # type: ignore[arg-type]
    assert api.kinds() == ["list"]

    api.finish("aa_0001", status="FAILED")
    assert poll_once(api, tracker).status is Outcome.FAILED  # type: ignore[arg-type]
    assert api.calls == [("list", T0 + timedelta(seconds=2) + FINE_WINDOW_MARGIN), ("get", "aa_0001")]


def test_without_eager_results_the_last_cycle_reads_every_result() -> None:
    api = FakeApi(3)
    tracker = ActionTracker(ids(3), eager_results=False)
    api.finish(*ids(3))

    assert poll_once(api, tracker).status is Outcome.SUCCESS  # type: ignore[arg-type]
    assert api.kinds() == ["list", "get", "get", "get"]


def test_the_tracker_keeps_at_most_100_failed_orders_per_action() -> None:
    api = FakeApi(1)
    api.finish("aa_0000", failed=2000)

    verdict = poll_once(api, ActionTracker(ids(1), max_failed_orders=5000))  # type: ignore[arg-type]

    assert verdict.summary is not None
    assert verdict.summary.failed_count == 2000
    assert len(verdict.summary.failed_orders) == 100


def test_the_verdict_is_running_until_every_action_was_read() -> None:
    tracker = ActionTracker(["aa_1", "aa_2"])
    tracker.record(AsyncAction(id="aa_1", status=ActionStatus.DONE), with_result=True)
    tracker.record(AsyncAction(id="not_ours", status=ActionStatus.FAILED), with_result=True)

    assert tracker.verdict().status is Outcome.RUNNING


def test_success_waits_until_every_result_is_read() -> None:
    tracker = ActionTracker(["aa_1", "aa_2"])
    tracker.record(AsyncAction(id="aa_1", status=ActionStatus.DONE), with_result=True)
    tracker.record(AsyncAction(id="aa_2", status=ActionStatus.DONE), with_result=False)

    verdict = tracker.verdict()
    assert verdict.status is Outcome.RUNNING
    assert verdict.message.endswith("results of 1 not read yet")


def test_an_interrupted_cycle_keeps_what_it_learnt() -> None:
    api = FakeApi(3)
    api.finish("aa_0000", "aa_0001")
    tracker = ActionTracker(ids(3))
    api.errors = [None, VoucherifyTransportError("connection reset")]

    with pytest.raises(VoucherifyTransportError):
        poll_once(api, tracker)  # type: ignore[arg-type]
    api.calls.clear()
    poll_once(api, tracker)  # type: ignore[arg-type]

    assert api.calls == [("get", "aa_0002"), ("get", "aa_0000"), ("get", "aa_0001")]


def test_a_list_page_validates_only_the_entries_asked_for_and_keeps_its_shape() -> None:
    entries = [
        {"id": f"aa_{n}", "status": "ENQUEUED", "created_at": (T0 - timedelta(seconds=n)).isoformat()}
        for n in range(100)
    ]
    entries[50]["status"] = "NOT A STATUS"  # never validated: nobody asked for it

    page = parse_action_list(json.dumps({"async_actions": entries}).encode(), {"aa_3", "aa_7"})

    assert [action.id for action in page] == ["aa_3", "aa_7"]
    assert (page.page_size, page.last_created_at) == (100, T0 - timedelta(seconds=99))


def test_a_list_page_without_a_filter_holds_every_entry() -> None:
    entries = [{"id": f"aa_{n}", "status": "DONE"} for n in range(3)]

    page = parse_action_list(json.dumps({"async_actions": entries}).encode())

    assert [action.id for action in page] == ["aa_0", "aa_1", "aa_2"]
    assert (page.page_size, page.last_created_at) == (3, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("aa_1", ["aa_1"]),
        (["aa_1", "aa_2"], ["aa_1", "aa_2"]),
        (("aa_1", "aa_1", "aa_2"), ["aa_1", "aa_2"]),
        ('["aa_1", "aa_2"]', ["aa_1", "aa_2"]),
        ("['aa_1', 'aa_2']", ["aa_1", "aa_2"]),
        ([["aa_1"], ["aa_2", "aa_3"]], ["aa_1", "aa_2", "aa_3"]),
        (" aa_1 ", ["aa_1"]),
        ([], []),
        ("[]", []),
        ([[], []], []),
        ([[], ["aa_1"]], ["aa_1"]),
    ],
)
def test_action_ids_accepts_one_id_a_list_or_a_rendered_list(value: Any, expected: list[str]) -> None:
    assert action_ids(value) == expected


def test_action_ids_skip_none_in_nested_lists_and_refuse_other_types() -> None:
    # The reconciliation's XCom of several (mapped) imports: a mapped task that sent nothing is None.
    assert action_ids([["aa_1", "aa_2"], [], ["aa_2", "aa_3"], None]) == ["aa_1", "aa_2", "aa_3"]
    with pytest.raises(TypeError):
        action_ids([1])


@pytest.mark.parametrize("value", ["", ["aa_1", ""], [1], "[not, a list", None])
def test_action_ids_refuses_what_is_not_a_list_of_ids(value: Any) -> None:
    with pytest.raises(ValueError):
        action_ids(value)


@pytest.mark.parametrize(
    ("poll_interval", "failures", "expected"),
    [(30, 0, 30), (30, 1, 30), (30, 2, 60), (30, 4, 240), (30, 10, 300), (600, 3, 600), (0.1, 3, 0.4)],
)
def test_consecutive_transient_errors_double_the_wait_up_to_a_cap(
    poll_interval: float, failures: int, expected: float
) -> None:
    assert error_backoff(poll_interval, failures) == pytest.approx(expected)


def test_progress_is_logged_at_most_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = logging.getLogger("test.progress")
    progress = ProgressLog(log, clock=lambda: now[0])
    verdict = ActionTracker(["aa_1"]).verdict()
    with caplog.at_level(logging.INFO, logger="test.progress"):
        for second in range(0, 181, 10):
            now[0] = float(second)
            progress(verdict)

    assert len(caplog.records) == 4


def test_waiting_on_50_queued_imports_keeps_to_the_call_budget(slow_emulator: EmulatorServer) -> None:  # noqa: F811
    action_count = 50
    # Held until the first poll: on a slow machine the queue would otherwise keep up with the 50
    # sends and leave nothing to poll across cycles.
    slow_emulator.set_faults(hold_imports=True)
    queued = queue_imports(action_count, orders_each=2)
    hook = VoucherifyHook()
    tracker = ActionTracker(queued)
    cycles: list[dict[str, int]] = []
    deadline = time.monotonic() + 60
    finished_before: set[str] = set()
    try:
        while True:
            unfinished = action_count - len(finished_before)
            lists, gets = (
                requests(slow_emulator, "GET /v1/async-actions"),
                requests(slow_emulator, "GET /v1/async-actions/{id}"),
            )
            verdict = poll_once(hook, tracker)
            if not cycles:
                slow_emulator.clear_faults()
            finished = {a for a in queued if tracker._is_final(a)}
            cycles.append(
                {
                    "unfinished": unfinished,
                    "newly_final": len(finished - finished_before),
                    "lists": requests(slow_emulator, "GET /v1/async-actions") - lists,
                    "gets": requests(slow_emulator, "GET /v1/async-actions/{id}") - gets,
                }
            )
            finished_before = finished
            if verdict.finished or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # the poll interval of this wait
    finally:
        hook.close()

    assert verdict.status is Outcome.SUCCESS, verdict.message
    assert len(cycles) > 3, "the imports should have been queued across several cycles"
    for cycle in cycles:
        # ceil(K/100) list calls, one GET per action reaching a final state; no fallback is needed here.
        # A single unfinished action is read with one GET in place of the one list call.
        assert cycle["lists"] <= math.ceil(cycle["unfinished"] / 100), cycle
        assert (
            cycle["lists"] + cycle["gets"] <= math.ceil(cycle["unfinished"] / 100) + cycle["newly_final"]
        ), cycle
    total_lists = sum(c["lists"] for c in cycles)
    total_gets = sum(c["gets"] for c in cycles)
    print(f"\n50 actions: {len(cycles)} cycles, {total_lists} list calls, {total_gets} GETs")
    assert total_gets <= action_count + sum(1 for c in cycles if c["unfinished"] == 1)


def test_an_empty_tracker_is_a_success_at_once_without_a_call() -> None:
    tracker = ActionTracker([])

    assert list(tracker.cycle()) == []
    verdict = tracker.verdict()
    assert verdict.status is Outcome.SUCCESS
    assert verdict.summary is not None
    assert verdict.summary.model_dump() == {
        "actions": [],
        "done_count": 0,
        "failed_count": 0,
        "failed_orders": [],
    }
