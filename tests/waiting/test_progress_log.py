"""How often a wait logs its progress: on every change of the actions' states, else once a minute.

A triggerer runs hundreds of waits; a line per poll per wait floods its log (and costs CPU), while
a line per minute alone hides when an import starts or ends. Driven with the fake clock and the
simulated project of ``tests/waiting/test_planner.py``: the planner, then each runner.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from typing import Any

import pytest

from airflow_provider_voucherify.waiting import (
    Polled,
    Sleep,
    WaitPolicy,
    await_until_finished,
    plan_waiting,
    planner,
    wait_until_finished,
)
from airflow_provider_voucherify.waiting.planner import PROGRESS_LOG_INTERVAL
from airflow_provider_voucherify.waiting.runners import poll_once
from airflow_provider_voucherify.waiting.tracker import ActionTracker
from airflow_provider_voucherify.waiting.verdict import Outcome
from tests.waiting.test_planner import LOG, START, Project

POLL_INTERVAL = 5.0
# 3 imports one after another, 290 s each: they end at 290, 580 and 870 s, between the minutes.
IMPORTS, SECONDS_EACH = 3, 290.0
FINISHED = re.compile(r"(\d+) of \d+ async actions finished")
RUNNING = re.compile(r"(aa_\d+) at \d+%")


class AsyncProject(Project):
    """The simulated project, read through the hook's async methods; sleeping moves its clock."""

    async def alist_async_actions(self, limit: int = 100, end_date: Any = None, *, ids: Any = None) -> Any:
        return self.list_async_actions(limit, end_date, ids)

    async def aget_async_action(self, async_action_id: str) -> Any:
        return self.get_async_action(async_action_id)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)


def sleeps(project: Project) -> list[tuple[float, Sleep]]:
    """The planner's sleeps over ``project`` with a poll every ``POLL_INTERVAL``: (when, sleep)."""
    tracker = ActionTracker(project.ids)
    policy = WaitPolicy(poll_interval=POLL_INTERVAL, max_poll_gap=POLL_INTERVAL)
    plan = plan_waiting(tracker, policy, now=project.now, deadline=None)
    seen: list[tuple[float, Sleep]] = []
    step = next(plan)
    try:
        while True:
            if isinstance(step, Sleep):
                seen.append((project.now, step))
                project.advance(step.until - project.now)
                step = plan.send(None)
                continue
            before = tracker.calls
            verdict = poll_once(project, tracker)  # type: ignore[arg-type]
            step = plan.send(Polled(project.now, tracker.calls - before, verdict, None, None))
    except StopIteration as stop:
        assert stop.value.status is Outcome.SUCCESS
    return seen


def finished(note: str) -> int:
    match = FINISHED.search(note)
    assert match, note
    return int(match.group(1))


def states(note: str) -> tuple[int, list[str]]:
    """How many actions had finished, and which were running, as a progress line tells."""
    return finished(note), RUNNING.findall(note)


def test_progress_is_reported_when_an_action_ends_and_once_a_minute_otherwise() -> None:
    seen = sleeps(Project(IMPORTS, seconds_each=SECONDS_EACH, limit=None))
    reported = [(when, step) for when, step in seen if step.report]

    assert len(seen) > 150, "a poll every 5 s for about 15 minutes"
    assert seen[0][1].report, "the first sleep says what the wait is doing"
    # Every change of the finished count is reported at the poll that saw it.
    for (_, before), (when, after) in itertools.pairwise(seen):
        if finished(after.note) != finished(before.note):
            assert after.report, f"{after.note!r} at {when - START:.0f} s was not reported"
    # Otherwise at most one line a minute: 15 minutes, 3 starts, 3 ends, the first line.
    for (earlier, before), (later, after) in itertools.pairwise(reported):
        if states(after.note) == states(before.note):
            assert later - earlier >= PROGRESS_LOG_INTERVAL, (before.note, after.note)
    assert len(reported) <= 15 + 2 * IMPORTS + 1, [step.note for _, step in reported]


def test_a_running_import_is_reported_once_a_minute_not_every_poll() -> None:
    seen = sleeps(Project(1, seconds_each=600, limit=None))
    reported = [when - START for when, step in seen if step.report]

    assert len(seen) >= 600 / POLL_INTERVAL
    # Running from the first poll: a line then, and one a minute until it ends (at 600 s).
    assert reported == [pytest.approx(minute * PROGRESS_LOG_INTERVAL) for minute in range(10)]


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_each_runner_logs_what_the_planner_reports(
    runner: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(planner, "MAX_POLL_GAP", POLL_INTERVAL)  # poll every 5 s, as a busy wait would
    project = AsyncProject(IMPORTS, seconds_each=SECONDS_EACH, limit=None)
    options: dict[str, Any] = {
        "poll_interval": POLL_INTERVAL,
        "timeout": None,
        "log": LOG,
        "clock": lambda: project.now,
    }

    with caplog.at_level(logging.INFO, logger=LOG.name):
        if runner == "sync":
            verdict = wait_until_finished(project, project.ids, sleep=project.advance, **options)  # type: ignore[arg-type]
        else:
            verdict = asyncio.run(await_until_finished(project, project.ids, sleep=project.sleep, **options))  # type: ignore[arg-type]

    assert verdict.status is Outcome.SUCCESS
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("Waiting:")]
    polls = len(project.calls) - IMPORTS  # every cycle is one call, plus the result reads
    assert polls > 150
    assert len(lines) <= 15 + 2 * IMPORTS + 1, lines
    assert {finished(line) for line in lines} == {0, 1, 2}, "each finished count shows while waiting"
