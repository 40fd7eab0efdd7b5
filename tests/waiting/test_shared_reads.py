"""Shared list reads, the pure part: one read for several trackers' list calls (no HTTP, no loop).

``shared_poll`` does what a ``ListCoalescer`` does for trackers whose cycles ask at the same
moment: their list calls go out as one ``SharedRead``, the rest of each cycle is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import timedelta

import pytest

from airflow_provider_voucherify.async_actions import ActionWindow
from airflow_provider_voucherify.waiting.runners import poll_once
from airflow_provider_voucherify.waiting.shared_reads import SharedRead
from airflow_provider_voucherify.waiting.tracker import (
    LIST_PAGE_SIZE,
    SHORT_PAGE_EXTRA,
    ActionTracker,
    Answer,
    Call,
    Fetch,
    ListPage,
)
from airflow_provider_voucherify.waiting.verdict import Outcome
from tests.waiting.test_tracker import T0, FakeApi, ids


def _run_fetches(api: FakeApi, plan: Generator[Call, Answer, None], call: Call | None) -> None:
    """Carry a tracker's cycle on from ``call`` until it ends, with the fake's reads."""
    try:
        while call is not None:
            assert isinstance(call, Fetch), "a shared window ends the cycle's list calls"
            call = plan.send(api.get_async_action(call.async_action_id))
    except StopIteration:
        pass


def shared_poll(api: FakeApi, trackers: list[ActionTracker]) -> None:
    """One cycle of every tracker, their list calls merged into one shared read."""
    plans = [tracker.cycle() for tracker in trackers]
    firsts: list[Call | None] = [next(plan, None) for plan in plans]
    listing = [n for n, call in enumerate(firsts) if isinstance(call, ListPage)]
    answers: dict[int, ActionWindow] = {}
    if listing:
        read = SharedRead([firsts[n] for n in listing])  # type: ignore[misc]
        while (page := read.page) is not None:
            for n, window in read.take(api.list_async_actions(page.limit, page.end_date, page.ids)):  # type: ignore[arg-type]
                answers[listing[n]] = window
        assert sorted(answers) == listing, "every waiter is answered once"
    for n, plan in enumerate(plans):
        call = firsts[n]
        if n in answers:
            try:
                call = plan.send(answers[n])
            except StopIteration:
                call = None
        _run_fetches(api, plan, call)


def with_others_among_ours(api: FakeApi) -> None:
    for n in range(SHORT_PAGE_EXTRA + 5):
        api.add(f"other_{n:04d}")
    api.add("aa_0001")
    api.add("aa_0002")


SCENARIOS: dict[str, tuple[Callable[[], FakeApi], int]] = {
    # (the project's list, ids waited for)
    "others queued after ours": (lambda: FakeApi(3, others_after=250), 3),
    "others queued among ours": (lambda: (lambda api: (with_others_among_ours(api), api)[1])(FakeApi(1)), 3),
    "250 actions: three pages": (lambda: FakeApi(250, others_after=20), 250),
    "an API reading end_date in seconds": (lambda: FakeApi(3, spacing=0.3), 3),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_lone_tracker_makes_exactly_the_calls_it_makes_alone(scenario: str) -> None:
    make, count = SCENARIOS[scenario]
    alone, shared = make(), make()
    if "seconds" in scenario:
        alone.end_date_precision = shared.end_date_precision = timedelta(seconds=1)
    trackers = ActionTracker(ids(count)), ActionTracker(ids(count))

    for cycle in range(4):
        if cycle == 2:
            for api in (alone, shared):
                api.finish("aa_0000")
        poll_once(alone, trackers[0])  # type: ignore[arg-type]
        shared_poll(shared, [trackers[1]])

        assert shared.calls == alone.calls, f"cycle {cycle}"
        assert shared.limits == alone.limits, f"cycle {cycle}"
        assert trackers[1].calls == trackers[0].calls
        assert trackers[1].verdict() == trackers[0].verdict()


def test_trackers_asking_together_share_one_read_and_each_gets_its_own_entries() -> None:
    api = FakeApi(6)
    overlapping = [
        ActionTracker(ids(6)[0:3]),
        ActionTracker(ids(6)[2:5]),
        ActionTracker(["aa_0005", "aa_0001"]),
    ]
    shared_poll(api, overlapping)  # first cycle: nothing seen yet, from the newest entries
    assert api.kinds() == ["list"]

    api.finish(*ids(6))
    shared_poll(api, overlapping)

    # One list call for all three, then each tracker reads its own results (3 + 3 + 2).
    assert api.kinds() == ["list"] + ["get"] * 8
    for tracker in overlapping:
        verdict = tracker.verdict()
        assert verdict.status is Outcome.SUCCESS, verdict.message
        assert verdict.summary is not None
        assert verdict.summary.actions == tracker.ids


def test_the_shared_window_starts_at_the_latest_start_or_at_the_newest_entries() -> None:
    start = T0 + timedelta(seconds=5)
    later = T0 + timedelta(seconds=9)
    calls = [ListPage(start, frozenset({"a"}), 11), ListPage(later, frozenset({"b"}), 11)]

    assert SharedRead(calls).page == ListPage(later, frozenset({"a", "b"}), 2 + SHORT_PAGE_EXTRA)
    fresh = ListPage(None, frozenset({"c"}))
    assert SharedRead([*calls, fresh]).page == ListPage(None, frozenset({"a", "b", "c"}), LIST_PAGE_SIZE)


def test_a_shared_read_skips_the_entries_between_two_waiters_windows() -> None:
    api = FakeApi(2, others_after=300)  # ours are the 2 oldest, 300 others' newer
    api.add("late_1")
    api.add("late_2")
    older, newer = ActionTracker(ids(2)), ActionTracker(["late_1", "late_2"])
    shared_poll(api, [older])
    shared_poll(api, [newer])
    api.kinds()
    before = older.calls, newer.calls

    shared_poll(api, [older, newer])

    # A page from the newer window, then straight to the older one: not 3 pages of others'.
    assert api.kinds() == ["list", "list"]
    assert api.limits[-2:] == [4 + SHORT_PAGE_EXTRA, LIST_PAGE_SIZE]
    for tracker in (older, newer):
        assert tracker.verdict().status is Outcome.RUNNING
        assert tracker.milestones()[0] == 2  # both of its actions seen in the shared window
    # Each waiter is charged every call of the read until it was answered (see shared_lists):
    # the newer one had all it asked for after the first page.
    assert (older.calls - before[0], newer.calls - before[1]) == (2, 1)
    # The short page started at the newer window, not the older one's: neither goes on with full
    # pages (the older one's own short page holds its two actions).
    shared_poll(api, [newer])
    shared_poll(api, [older])
    assert api.limits[-2:] == [2 + SHORT_PAGE_EXTRA, 2 + SHORT_PAGE_EXTRA]
    assert api.kinds() == ["list", "list"]


def test_only_a_waiter_whose_own_short_page_missed_its_actions_goes_on_with_full_pages() -> None:
    api = FakeApi(1)  # ours: aa_0000, then others' actions queued among ours, then aa_0001
    for n in range(SHORT_PAGE_EXTRA + 5):
        api.add(f"other_{n:04d}")
    api.add("aa_0001")
    for n in range(SHORT_PAGE_EXTRA + 5, 300):
        api.add(f"other_{n:04d}")
    api.add("late_1")
    spread, newest = ActionTracker(ids(2)), ActionTracker(["late_1"] + [f"other_{n:04d}" for n in (298, 299)])
    shared_poll(api, [spread])
    shared_poll(api, [newest])
    api.kinds()

    shared_poll(api, [newest, spread])  # the short page starts at the newest window

    # The shared short page did not start at the spread one's window: it still reads its own
    # short page next, which misses aa_0000 (others' actions among its own) and widens it; the
    # newest one keeps its short pages.
    shared_poll(api, [spread])
    shared_poll(api, [newest])
    assert api.limits[-3:] == [2 + SHORT_PAGE_EXTRA, LIST_PAGE_SIZE, 3 + SHORT_PAGE_EXTRA]
    shared_poll(api, [spread])
    assert api.limits[-1] == LIST_PAGE_SIZE


def test_a_shared_read_goes_on_while_its_waiters_would_have_read_that_many_pages() -> None:
    api = FakeApi(500)  # ours only, but each waiter's actions are 8 apart: spread over 5 pages
    trackers = [ActionTracker([f"aa_{8 * k:04d}", f"aa_{8 * k + 1:04d}"]) for k in range(60)]

    shared_poll(api, trackers)

    # 5 pages found every action: no waiter falls back to its own GETs (60 lone reads would).
    assert api.kinds() == ["list"] * 5
    assert all(tracker.milestones()[0] == 2 for tracker in trackers)


def test_a_shared_read_makes_no_more_list_calls_than_its_waiters_alone() -> None:
    api = FakeApi(2, others_after=300)  # the 2 oldest are ours, under 3 pages of others'
    for n in range(4):
        api.add(f"late_{n}")
    early = ActionTracker(ids(2))
    lates = [ActionTracker(["late_0", "late_1"]), ActionTracker(["late_2", "late_3"])]

    shared_poll(api, [early, *lates])

    # Lone reads: 1 page each (with the 2 GETs of the early one). Shared: the first page answers
    # the late ones, then the read goes on for the early one, up to the 3 pages the three would
    # have read alone; its actions lie deeper: its own GETs. As many calls as alone, never more.
    assert api.kinds() == ["list"] * 3 + ["get", "get"]


def test_waiters_answered_early_still_let_the_read_reach_an_older_waiter() -> None:
    api = FakeApi(50, others_after=150)  # 50 of ours, then 150 others' newer
    older = ActionTracker(ids(50))
    poll_once(api, older)  # type: ignore[arg-type]  # learns its window (and GETs the 50)
    api.add("fresh_1")
    api.add("fresh_2")
    fresh = ActionTracker(["fresh_1", "fresh_2"])  # a new trigger: no window known yet
    api.kinds()
    before = older.calls

    shared_poll(api, [older, fresh])

    # The newest page answers the fresh one; the next starts at the older one's window and holds
    # its 50: 2 list calls, as the two would make alone, and no GET per action of the older one.
    assert api.kinds() == ["list", "list"]
    assert older.milestones()[0] == 50
    assert fresh.milestones()[0] == 2
    assert older.calls - before == 2
