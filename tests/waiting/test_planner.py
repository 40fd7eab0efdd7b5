"""The waiting planner, driven with a fake clock and a simulated project (no HTTP, no sleeping).

:class:`Project` answers the hook's two reads from a clock that moves only when the planner
sleeps: imports run one after another, each ``seconds_each`` long, and every answer reports an
hourly ordinary budget as ``X-Rate-Limit-*`` would. The runners' wiring is proven against the
emulator in ``tests/waiting/test_runners.py``.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_voucherify.exceptions import (
    VoucherifyApiError,
    VoucherifyAuthError,
    VoucherifyRateLimitError,
    VoucherifyTransportError,
)
from airflow_provider_voucherify.models import AsyncAction
from airflow_provider_voucherify.waiting import (
    MAX_POLL_GAP,
    Poll,
    Polled,
    Sleep,
    WaitPolicy,
    plan_waiting,
    wait_until_finished,
)
from airflow_provider_voucherify.waiting.pacing import ApiBudget, ProgressRate
from airflow_provider_voucherify.waiting.planner import error_backoff
from airflow_provider_voucherify.waiting.runners import poll_once
from airflow_provider_voucherify.waiting.tracker import ActionTracker
from airflow_provider_voucherify.waiting.verdict import Outcome, Verdict

START = 1_800_000_000.0  # the top of a UTC hour, in epoch seconds
CREATED = datetime(2027, 1, 15, 8, 0, tzinfo=timezone.utc)
LOG = logging.getLogger("test.waiting")


@dataclass(frozen=True)
class View:
    """``X-Rate-Limit-Limit`` / ``X-Rate-Limit-Remaining`` of an answer."""

    limit: int | None
    remaining: int | None


def rate_limited(limit_type: str, retry_at: float | None) -> VoucherifyRateLimitError:
    """A 429 as the hook raises it when it will not sleep through it."""
    return VoucherifyRateLimitError("GET /v1/async-actions", limit_type=limit_type, retry_at=retry_at)


class Project:
    """Imports queued at ``START`` + ``delay``, run one after another; the hook's reads, simulated.

    :param limit: ordinary calls per calendar ``window`` reported on every answer (``None``: no headers)
    :param others: calls other clients spend per window, at its start (e.g. the import's POSTs)
    """

    def __init__(
        self,
        count: int,
        seconds_each: float,
        *,
        delay: float = 0.0,
        limit: int | None = 100,
        window: float = 3600.0,
        others: int = 0,
    ) -> None:
        self.now = START
        self.ids = [f"aa_{n:03d}" for n in range(count)]
        self.seconds_each, self.delay = seconds_each, delay
        self.limit, self.window, self.others = limit, window, others
        self.calls: list[tuple[float, str]] = []
        self.errors: list[Exception | None] = []  # one per call, in order; None lets a call through
        self.rate_limit: View | None = None

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "the planner never sleeps backwards"
        self.now += seconds

    def _state(self, number: int) -> dict[str, Any]:
        elapsed = self.now - START - self.delay - number * self.seconds_each
        action: dict[str, Any] = {
            "id": self.ids[number],
            "type": "ORDERS.IMPORT",
            "status": "ENQUEUED",
            "created_at": (CREATED + timedelta(seconds=number)).isoformat(),
        }
        if elapsed >= self.seconds_each:
            action.update(status="DONE", progress=100, result={"done_count": 10, "failed_count": 0})
        elif elapsed >= 0:
            action.update(status="IN_PROGRESS", progress=int(elapsed / self.seconds_each * 100))
        return action

    def _call(self, kind: str) -> None:
        self.calls.append((self.now, kind))
        if self.limit is not None:
            window = math.floor(self.now / self.window)
            used = self.others + sum(1 for when, _ in self.calls if math.floor(when / self.window) == window)
            self.rate_limit = View(self.limit, max(0, self.limit - used))
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error

    def list_async_actions(
        self, limit: int = 100, end_date: datetime | None = None, ids: Any = None
    ) -> list[AsyncAction]:
        self._call("list")
        entries = [self._state(n) for n in reversed(range(len(self.ids)))]
        if end_date is not None:
            entries = [e for e in entries if datetime.fromisoformat(e["created_at"]) < end_date]
        return [AsyncAction.model_validate({**e, "result": None}) for e in entries[:limit]]

    def get_async_action(self, async_action_id: str) -> AsyncAction:
        self._call("get")
        return AsyncAction.model_validate(self._state(self.ids.index(async_action_id)))

    def kinds(self) -> Counter[str]:
        return Counter(kind for _, kind in self.calls)

    def per_window(self) -> list[int]:
        """Calls in each calendar window from the first call to the last."""
        windows = Counter(math.floor(when / self.window) for when, _ in self.calls)
        return [windows.get(w, 0) for w in range(min(windows), max(windows) + 1)]


def drive(
    project: Project, policy: WaitPolicy, *, timeout: float | None = None
) -> tuple[Verdict, list[float]]:
    """Run the planner over ``project`` as a runner would, with the fake clock; (verdict, poll times)."""
    tracker = ActionTracker(project.ids)
    plan = plan_waiting(
        tracker, policy, now=project.now, deadline=None if timeout is None else START + timeout
    )
    polls: list[float] = []
    step = next(plan)
    try:
        while True:
            if isinstance(step, Sleep):
                assert step.until > project.now
                project.advance(step.until - project.now)
                step = plan.send(None)
                continue
            polls.append(project.now)
            before = tracker.calls
            try:
                verdict: Verdict | None = poll_once(project, tracker)  # type: ignore[arg-type]
                error = None
            except VoucherifyApiError as exc:
                verdict, error = None, exc
            step = plan.send(Polled(project.now, tracker.calls - before, verdict, error, project.rate_limit))
    except StopIteration as stop:
        return stop.value, polls


def scripted(policy: WaitPolicy, *, ids: int = 2, deadline: float | None = None) -> Any:
    """A planner over ``ids`` never-seen actions, started at ``START``, with its first step taken."""
    plan = plan_waiting(ActionTracker([f"aa_{n}" for n in range(ids)]), policy, now=START, deadline=deadline)
    assert next(plan) == Poll(deadline)
    return plan


def slept_until(step: Poll | Sleep) -> float:
    assert isinstance(step, Sleep), step
    return step.until


def running(now: float, error: Exception | None = None, calls: int = 1) -> Polled:
    verdict = None if error else Verdict(status=Outcome.RUNNING, message="0 of 2 async actions finished")
    return Polled(now, calls, verdict, error)


# -- when to poll: progress, poll_interval, the cap ------------------------------------------------


def test_25_imports_over_10_minutes_cost_their_25_result_reads_and_a_few_list_calls() -> None:
    project = Project(25, seconds_each=24, limit=1000)  # 10 minutes in all; a legacy Startup plan

    verdict, _ = drive(project, WaitPolicy(poll_interval=30))

    assert verdict.status is Outcome.SUCCESS
    kinds = project.kinds()
    # Result reads: one GET per action; the rest are the list calls (or the GET of a lone action).
    assert kinds["get"] <= 25 + 1
    assert kinds["list"] + kinds["get"] - 25 <= 5, kinds
    assert project.now - START <= 600 + 30, "finished within one poll_interval of the last import"


def test_polls_are_never_closer_than_poll_interval() -> None:
    project = Project(3, seconds_each=2)

    verdict, polls = drive(project, WaitPolicy(poll_interval=30))

    assert verdict.status is Outcome.SUCCESS
    assert all(b - a >= 30 for a, b in itertools.pairwise(polls)), polls


def test_the_next_poll_is_the_estimated_finish_of_every_action() -> None:
    project = Project(4, seconds_each=300, limit=None)  # 20 minutes, but MAX_POLL_GAP is 10

    _, polls = drive(project, WaitPolicy(poll_interval=30, max_poll_gap=3600))

    # First poll, then poll_interval later to measure the rate, then at the estimated finish.
    assert polls[:2] == [START, START + 30]
    assert polls[2] == pytest.approx(START + 1200, abs=30)


def test_a_far_estimated_finish_is_polled_at_least_every_max_poll_gap() -> None:
    project = Project(2, seconds_each=3600)

    _, polls = drive(project, WaitPolicy(poll_interval=30))

    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert max(gaps) == pytest.approx(MAX_POLL_GAP)


def test_while_nothing_moves_the_gap_doubles_up_to_16_poll_intervals() -> None:
    project = Project(1, seconds_each=60, delay=3 * 3600, limit=None)  # behind 3 hours of others' work

    _, polls = drive(project, WaitPolicy(poll_interval=30))

    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert gaps[:7] == [30, 60, 120, 240, 480, 480, 480]  # at most 16 poll_intervals


def test_while_nothing_moves_the_gap_never_passes_max_poll_gap() -> None:
    project = Project(1, seconds_each=60, delay=3 * 3600, limit=None)

    _, polls = drive(project, WaitPolicy(poll_interval=60))

    assert max(b - a for a, b in itertools.pairwise(polls)) == MAX_POLL_GAP


def test_imports_queued_behind_others_are_measured_once_they_move() -> None:
    project = Project(5, seconds_each=60, delay=100, limit=None)

    verdict, polls = drive(project, WaitPolicy(poll_interval=30))

    assert verdict.status is Outcome.SUCCESS
    # Back off while queued (30, 60, 120 s), one poll_interval to measure the pace, then the finish.
    assert [when - START for when in polls[:5]] == [0, 30, 90, 210, 240]
    assert project.now - START == pytest.approx(400, abs=1)


# -- the API budget ------------------------------------------------------------------------------


def test_the_wait_spends_at_most_its_share_of_an_hourly_budget() -> None:
    # A wait that would poll every 10 s for 3 hours, on a Sandbox's 100 calls per hour.
    project = Project(1, seconds_each=3 * 3600)

    verdict, _ = drive(project, WaitPolicy(poll_interval=10, max_poll_gap=10))

    assert verdict.status is Outcome.SUCCESS
    assert max(project.per_window()) <= 20, project.per_window()
    assert min(project.per_window()[:-1]) >= 19, "the share is used, not wasted"


def test_on_a_sandbox_reading_many_results_at_once_delays_the_next_poll() -> None:
    # 25 results read in one cycle are 25 of the hour's 20-call share: the next poll waits.
    project = Project(25, seconds_each=24, limit=100)

    verdict, polls = drive(project, WaitPolicy(poll_interval=30))

    assert verdict.status is Outcome.SUCCESS
    # The second poll (a list call and 7 result reads) pushes the next one 8 x 180 s away.
    assert [when - START for when in polls] == [0, 180, 180 + 8 * 180]
    assert project.per_window() == [28], "the share (20) and the last cycle's result reads"


def test_without_rate_limit_headers_poll_interval_alone_paces_the_wait() -> None:
    project = Project(1, seconds_each=3600, limit=None)

    drive(project, WaitPolicy(poll_interval=10, max_poll_gap=10))

    assert len(project.calls) >= 360


def test_a_budget_others_spent_waits_for_the_next_window() -> None:
    # The import and other clients spent 99 of the 100 calls of every hour.
    project = Project(1, seconds_each=2 * 3600, others=99)

    verdict, polls = drive(project, WaitPolicy(poll_interval=30))

    assert verdict.status is Outcome.SUCCESS
    assert all(math.floor(a / 3600) != math.floor(b / 3600) for a, b in itertools.pairwise(polls))


def test_the_budget_paces_calls_over_the_window() -> None:
    budget = ApiBudget(share=0.2)
    budget.spend(1, View(100, 99), START)
    assert budget.next_allowed() == START + 180

    budget.spend(3, View(100, 96), START + 180)  # a list call and two result reads

    assert budget.next_allowed() == START + 180 + 3 * 180


def test_a_429_that_names_its_reopening_holds_the_budget_until_then_only() -> None:
    budget = ApiBudget(share=0.2)
    budget.spend(1, View(1000, 0), START + 10, reopens_at=START + 70)

    assert budget.next_allowed() == START + 70, "not the assumed window's end, an hour away"


def test_a_window_that_restarts_within_the_hour_is_a_per_minute_one() -> None:
    budget = ApiBudget(share=0.2)
    budget.spend(1, View(100, 99), START + 10)
    budget.spend(1, View(100, 99), START + 200)  # our call did not lower the count: a new window

    assert budget.window == 60
    assert budget.next_allowed() == pytest.approx(START + 200 + 3)


def test_a_count_going_up_across_the_top_of_the_hour_keeps_hourly_windows() -> None:
    budget = ApiBudget(share=0.2)
    budget.spend(1, View(100, 50), START - 100)
    budget.spend(1, View(100, 99), START + 100)

    assert budget.window == 3600


def test_a_time_scaled_window_is_measured_from_the_resets_not_assumed_an_hour() -> None:
    # A 600-per-window budget whose window is 6 real seconds (an emulated hour at a time scale
    # of 600), starting off every calendar minute: only a measurement tells its length.
    budget = ApiBudget(share=0.5)
    length, offset = 6.0, START + 1.3
    used: dict[int, int] = {}
    t = START + 2.0
    for _ in range(20):  # a poll every 0.7 s
        window = math.floor((t - offset) / length)
        used[window] = used.get(window, 0) + 1
        budget.spend(1, View(600, 600 - used[window]), t)
        t += 0.7
    assert length <= budget.window <= length + 2 * 0.7, budget.window
    assert budget.calls_per_window == 300
    assert budget.next_allowed() - t <= budget.window / 300


def test_two_429s_measure_the_window_between_their_reopening_moments() -> None:
    budget = ApiBudget(share=0.2)
    budget.spend(1, View(600, 0), START + 10.5, reopens_at=START + 13.25)
    budget.spend(1, View(600, 0), START + 14.0, reopens_at=START + 16.25)
    assert budget.window == pytest.approx(3.0)
    assert budget.window_end(START + 17.0) == pytest.approx(START + 19.25)


@pytest.mark.parametrize("share", [0, -0.1, 1.5])
def test_a_share_outside_0_to_1_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="api_budget_share"):
        WaitPolicy(poll_interval=30, api_budget_share=share)


def test_the_progress_rate_is_measured_from_a_poll_that_saw_the_work_moving() -> None:
    rate = ProgressRate()
    rate.observe(0, 50, running=True)
    rate.observe(30, 80, running=True)

    assert rate.rate() == pytest.approx(1.0)
    assert rate.finish_at(200) == pytest.approx(150)


def test_growth_after_a_queued_spell_is_measured_from_when_it_was_first_seen() -> None:
    rate = ProgressRate()
    rate.observe(0, 0, running=False)
    rate.observe(100, 0, running=False)  # still queued behind others
    rate.observe(400, 30, running=True)  # moving, since some time in the last 300 s
    assert rate.rate() is None
    assert rate.grew

    rate.observe(430, 60, running=True)

    assert rate.rate() == pytest.approx(1.0)


# -- errors and the deadline ------------------------------------------------------------------


def test_a_429_on_api_calls_sleeps_until_its_window_reopens_without_backing_off() -> None:
    plan = scripted(WaitPolicy(poll_interval=30))

    step = plan.send(running(START + 1, rate_limited("api_calls", retry_at=START + 1800)))
    assert slept_until(step) == START + 1800
    assert isinstance(step, Sleep)
    assert step.warning
    assert plan.send(None) == Poll(None)

    step = plan.send(running(START + 1801))
    assert slept_until(step) == START + 1801 + 30  # no backoff after a 429


def test_api_calls_cycle_ends_the_wait_with_its_error() -> None:
    plan = scripted(WaitPolicy(poll_interval=30))
    spent = rate_limited("api_calls_cycle", retry_at=START + 9 * 86400)

    with pytest.raises(VoucherifyRateLimitError) as raised:
        plan.send(running(START + 1, spent))

    assert raised.value is spent


@pytest.mark.parametrize(
    "error", [VoucherifyApiError("GET /v1/async-actions", 503), VoucherifyTransportError("reset")]
)
def test_transient_errors_back_off_while_nothing_gets_through(error: Exception) -> None:
    plan = scripted(WaitPolicy(poll_interval=30))
    now = START
    for failures in range(1, 6):
        step = plan.send(running(now, error))
        assert slept_until(step) == now + error_backoff(30, failures)
        now = step.until
        assert plan.send(None) == Poll(None)

    step = plan.send(running(now))
    assert slept_until(step) == now + 30


@pytest.mark.parametrize(
    "error",
    [
        VoucherifyAuthError("GET /v1/async-actions", 401),
        VoucherifyApiError("GET /v1/async-actions/{id}", 404),
    ],
)
def test_errors_waiting_cannot_cure_are_raised(error: Exception) -> None:
    plan = scripted(WaitPolicy(poll_interval=30))

    with pytest.raises(type(error)) as raised:
        plan.send(running(START, error))

    assert raised.value is error


def test_the_deadline_cuts_the_last_sleep_short_and_times_out() -> None:
    project = Project(1, seconds_each=3600)

    verdict, polls = drive(project, WaitPolicy(poll_interval=30), timeout=1000)

    assert verdict.status is Outcome.TIMEOUT
    assert "Gave up waiting after 1000 s" in verdict.message
    assert project.now == START + 1000
    assert polls[-1] < START + 1000


def test_a_rate_limit_window_past_the_deadline_ends_in_a_timeout_at_the_deadline() -> None:
    plan = scripted(WaitPolicy(poll_interval=30), deadline=START + 100)

    step = plan.send(running(START + 1, rate_limited("api_calls", retry_at=START + 3600)))
    assert slept_until(step) == START + 100
    with pytest.raises(StopIteration) as stop:
        plan.send(None)

    assert stop.value.value.status is Outcome.TIMEOUT


def test_a_wait_started_past_its_deadline_times_out_without_polling() -> None:
    plan = plan_waiting(ActionTracker(["aa_1"]), WaitPolicy(poll_interval=30), now=START, deadline=START - 1)

    with pytest.raises(StopIteration) as stop:
        next(plan)

    assert stop.value.value.status is Outcome.TIMEOUT


def test_a_finished_verdict_ends_the_wait_even_past_the_deadline() -> None:
    plan = scripted(WaitPolicy(poll_interval=30), deadline=START + 10)
    done = Verdict(status=Outcome.SUCCESS, message="2 async actions DONE")

    with pytest.raises(StopIteration) as stop:
        plan.send(Polled(START + 60, 3, done))

    assert stop.value.value is done


def test_the_sync_runner_follows_the_plan_with_the_clock_and_sleep_it_is_given(
    caplog: pytest.LogCaptureFixture,
) -> None:
    project = Project(25, seconds_each=24, limit=None)

    with caplog.at_level(logging.INFO, logger="test.waiting"):
        verdict = wait_until_finished(
            project,  # type: ignore[arg-type]
            project.ids,
            poll_interval=30,
            timeout=None,
            log=LOG,
            clock=lambda: project.now,
            sleep=project.advance,
        )

    assert verdict.status is Outcome.SUCCESS
    assert project.kinds() == {"list": 3, "get": 25}
    assert project.now == START + 600, "slept with the fake clock, not the real one"
    assert "next poll in 30 s (no progress seen yet)" in caplog.text
