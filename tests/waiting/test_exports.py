"""The export wait's planner, driven with scripted polls and a fake clock: no HTTP, no sleeping."""

from __future__ import annotations

import itertools
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_voucherify.exceptions import VoucherifyAuthError, VoucherifyRateLimitError
from airflow_provider_voucherify.waiting.exports import (
    ExportsPolled,
    ExportsWaited,
    PollExports,
    plan_export_wait,
)
from airflow_provider_voucherify.waiting.planner import Sleep, WaitPolicy

START = 1_900_000_000.0


@dataclass(frozen=True)
class View:
    limit: int | None
    remaining: int | None


Plan = Generator[PollExports | Sleep, ExportsPolled | None, ExportsWaited]


def run(plan: Plan, answers: list[Any]) -> tuple[ExportsWaited, list[float], list[tuple[str, ...]]]:
    """Drive ``plan``: each poll gets the next of ``answers`` (a status for every export polled, an
    exception, or ``(status, View)``); returns the end, the moments of the polls and what each read."""
    now, moments, polled = START, [], []
    step = next(plan)
    try:
        while True:
            if isinstance(step, Sleep):
                assert step.until >= now
                now = step.until
                step = plan.send(None)
                continue
            moments.append(now)
            polled.append(step.export_ids)
            answer = answers.pop(0)
            view = None
            if isinstance(answer, tuple):
                answer, view = answer
            if isinstance(answer, BaseException):
                step = plan.send(ExportsPolled(now, {}, 1, answer, view))
            else:
                read = {key: {"id": key, "status": answer} for key in step.export_ids}
                step = plan.send(ExportsPolled(now, read, len(read), None, view))
    except StopIteration as stop:
        return stop.value, [moment - START for moment in moments], polled


def plan(*ids: str, interval: float = 10.0, deadline: float | None = None) -> Plan:
    end = None if deadline is None else START + deadline
    return plan_export_wait(list(ids), WaitPolicy(interval), now=START, deadline=end)


def test_polls_double_their_gap_while_the_export_runs_and_end_when_it_is_done() -> None:
    waited, moments, _ = run(plan("exp_1"), ["SCHEDULED", "IN_PROGRESS", "IN_PROGRESS", "DONE"])

    assert (waited.status, waited.statuses) == ("success", {"exp_1": "DONE"})
    assert waited.exports["exp_1"]["status"] == "DONE"
    assert moments == [10, 20, 40, 80]


@pytest.mark.parametrize("final", ["ERROR", "EXPIRED"])
def test_any_final_status_but_done_fails_naming_the_export_and_its_status(final: str) -> None:
    waited, _, _ = run(plan("exp_1"), [final])

    assert waited.status == "failed"
    assert waited.message == f"Export exp_1 ended {final}, not DONE"
    assert ExportsWaited.from_event(waited.to_event()).message == waited.message
    assert "exports" not in waited.to_event()  # no download URL (its token) in an event


def test_a_finished_export_is_not_polled_again() -> None:
    plan_ = plan("exp_o", "exp_c")
    step = next(plan_)
    assert isinstance(step, Sleep)
    assert plan_.send(None) == PollExports(("exp_o", "exp_c"))
    exports = {"exp_o": {"status": "IN_PROGRESS"}, "exp_c": {"status": "DONE"}}
    assert isinstance(plan_.send(ExportsPolled(START + 10, exports, 2)), Sleep)
    assert plan_.send(None) == PollExports(("exp_o",))


def test_the_deadline_ends_the_wait_as_a_timeout() -> None:
    waited, moments, _ = run(plan("exp_1", deadline=100), ["SCHEDULED"] * 10)

    assert waited.status == "timeout"
    assert moments == [10, 20, 40, 80]


def test_polls_keep_to_the_share_of_the_call_budget() -> None:
    # 100 calls an hour (a Sandbox), 20 % of them for the wait: one poll per 180 s at most.
    answers: list[Any] = [("SCHEDULED", View(limit=100, remaining=90 - n)) for n in range(4)]
    answers.append(("DONE", View(limit=100, remaining=86)))
    waited, moments, _ = run(plan("exp_1", interval=1.0), answers)

    assert waited.status == "success"
    assert [later - earlier for earlier, later in itertools.pairwise(moments)] == [180.0] * 4


def test_a_rate_limit_waits_for_its_window_and_other_errors_waiting_cannot_cure_are_raised() -> None:
    limited = VoucherifyRateLimitError("GET /v1/exports/{id}", retry_at=START + 500, limit_type="api_calls")
    waited, moments, _ = run(plan("exp_1"), [limited, "DONE"])
    assert waited.status == "success"
    assert moments == [10, 500]

    with pytest.raises(VoucherifyAuthError):
        run(plan("exp_1"), [VoucherifyAuthError("GET /v1/exports/{id}", 401)])
