"""The one verdict: every combination of action states the sensor, trigger and operator can meet."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_voucherify.models import ActionStatus, AsyncAction
from airflow_provider_voucherify.waiting.verdict import (
    MAX_FAILED_ORDERS_IN_MESSAGE,
    MAX_FAILED_ORDERS_IN_SUMMARY,
    Outcome,
    Summary,
    Verdict,
    evaluate,
)


def action(
    action_id: str,
    status: ActionStatus | str,
    *,
    done: int = 0,
    failed: int = 0,
    progress: int | None = None,
    message: str | None = None,
) -> AsyncAction:
    """An ``ORDERS.IMPORT`` action as the API's GET returns it; finished ones carry a result."""
    status = ActionStatus(status)
    body: dict[str, Any] = {
        "id": action_id,
        "type": "ORDERS.IMPORT",
        "status": status.value,
        "progress": 100 if status.is_final else progress,
        "request_id": f"v-{action_id}",
    }
    if status.is_final:
        body["result"] = {
            "message": message,
            "done_count": done,
            "failed_count": failed,
            "failed": [
                {"source_id": f"{action_id}-order-{n}", "reason": f"reason {n}"} for n in range(failed)
            ],
        }
    return AsyncAction.model_validate(body)


DONE_CLEAN = action("aa_done", "DONE", done=10)
TWO_FAILED = action("aa_d", "DONE", done=8, failed=2)
FAILED = action("aa_failed", "FAILED", message="Import crashed")


@pytest.mark.parametrize(
    ("actions", "max_failed_orders", "expected"),
    [
        pytest.param([DONE_CLEAN], 0, Outcome.SUCCESS, id="one-done"),
        pytest.param([DONE_CLEAN, action("aa_2", "DONE", done=5)], 0, Outcome.SUCCESS, id="all-done"),
        pytest.param([FAILED], 0, Outcome.FAILED, id="one-failed"),
        pytest.param([DONE_CLEAN, FAILED], 0, Outcome.FAILED, id="done-and-failed"),
        pytest.param([action("aa_q", "ENQUEUED"), FAILED], 0, Outcome.FAILED, id="failed-beside-queued"),
        pytest.param([TWO_FAILED], 2, Outcome.SUCCESS, id="failures-at-tolerance"),
        pytest.param([TWO_FAILED], 5, Outcome.SUCCESS, id="failures-below"),
        pytest.param([TWO_FAILED], 1, Outcome.FAILED, id="failures-above"),
        pytest.param(
            [action("aa_1", "DONE", failed=1), action("aa_2", "DONE", failed=1)],
            1,
            Outcome.FAILED,
            id="failures-summed-over-actions",
        ),
        pytest.param([action("aa_q", "ENQUEUED")], 0, Outcome.RUNNING, id="queued"),
        pytest.param([action("aa_p", "IN_PROGRESS", progress=40)], 0, Outcome.RUNNING, id="in-progress"),
        pytest.param([DONE_CLEAN, action("aa_q", "ENQUEUED")], 0, Outcome.RUNNING, id="done-and-queued"),
        pytest.param(
            [action("aa_d", "DONE", failed=3), action("aa_q", "ENQUEUED")],
            0,
            Outcome.FAILED,
            id="failures-above-while-another-is-queued",
        ),
        pytest.param(
            [action("aa_d", "DONE", failed=1), action("aa_q", "ENQUEUED")],
            1,
            Outcome.RUNNING,
            id="failures-at-tolerance-while-another-is-queued",
        ),
    ],
)
def test_evaluate_decides_every_combination(
    actions: list[AsyncAction], max_failed_orders: int, expected: Outcome
) -> None:
    verdict = evaluate(actions, max_failed_orders)

    assert verdict.status is expected
    assert verdict.finished is (expected is not Outcome.RUNNING)
    assert verdict.failed_actions == [a.id for a in actions if a.status.value == "FAILED"]
    if verdict.finished:
        assert verdict.summary is not None
        assert verdict.summary.actions == [a.id for a in actions]


@pytest.mark.parametrize("status", list(ActionStatus))
def test_a_single_action_verdict_follows_its_status(status: ActionStatus) -> None:
    expected = {
        ActionStatus.ENQUEUED: Outcome.RUNNING,
        ActionStatus.IN_PROGRESS: Outcome.RUNNING,
        ActionStatus.DONE: Outcome.SUCCESS,
        ActionStatus.FAILED: Outcome.FAILED,
    }[status]
    assert evaluate([action("aa_1", status)]).status is expected


def test_a_failed_action_is_named_with_its_request_id_and_reason() -> None:
    verdict = evaluate([DONE_CLEAN, FAILED])

    assert "aa_failed" in verdict.message
    assert "request_id=v-aa_failed" in verdict.message
    assert "Import crashed" in verdict.message


def test_failed_orders_beyond_tolerance_list_the_first_20_and_the_total() -> None:
    verdict = evaluate([action("aa_big", "DONE", done=70, failed=30)], max_failed_orders=0)

    assert verdict.status is Outcome.FAILED
    assert "30 orders failed" in verdict.message
    assert "request_id=v-aa_big" in verdict.message
    listed = [line for line in verdict.message.splitlines() if line.strip().startswith("- source_id=")]
    assert len(listed) == MAX_FAILED_ORDERS_IN_MESSAGE
    assert listed[0].strip() == "- source_id=aa_big-order-0: reason 0"
    assert "aa_big-order-20:" not in verdict.message


def test_failing_before_every_action_is_done_says_so() -> None:
    verdict = evaluate([action("aa_d", "DONE", failed=3), action("aa_q", "ENQUEUED")])

    assert verdict.message.endswith("(1 async actions had not finished yet)")


def test_a_failed_order_without_source_id_is_still_listed() -> None:
    raw = action("aa_1", "DONE").model_dump()
    raw["result"] = {"done_count": 0, "failed_count": 1, "failed": [{"source_id": None, "reason": "bad"}]}
    verdict = evaluate([AsyncAction.model_validate(raw)])

    assert "source_id=(none): bad" in verdict.message


def test_progress_of_a_running_action_is_reported() -> None:
    verdict = evaluate([DONE_CLEAN, action("aa_p", "IN_PROGRESS", progress=42), action("aa_q", "ENQUEUED")])

    assert verdict.message.startswith("1 of 3 async actions finished")
    assert "aa_p at 42%" in verdict.message
    assert verdict.summary is None


def test_the_summary_sums_results_and_keeps_at_most_100_failed_orders() -> None:
    actions = [action("aa_1", "DONE", done=900, failed=80), action("aa_2", "DONE", done=950, failed=50)]
    summary = evaluate(actions, max_failed_orders=1000).summary

    assert summary is not None
    assert (summary.done_count, summary.failed_count) == (1850, 130)
    assert len(summary.failed_orders) == MAX_FAILED_ORDERS_IN_SUMMARY
    assert summary.failed_orders[80].source_id == "aa_2-order-0"


def test_no_actions_at_all_is_a_success_with_an_empty_summary() -> None:
    verdict = evaluate([])

    assert verdict.status is Outcome.SUCCESS
    assert verdict.summary == Summary(actions=[])
    assert "nothing was sent" in verdict.message


@pytest.mark.parametrize("actions", [[DONE_CLEAN], [FAILED], [action("aa_q", "ENQUEUED")]])
def test_the_event_payload_round_trips_through_json_primitives(actions: list[AsyncAction]) -> None:
    verdict = evaluate(actions)
    payload = verdict.to_event()

    assert json.loads(json.dumps(payload)) == payload
    assert Verdict.from_event(payload) == verdict


def test_failed_orders_without_source_id_are_counted_per_action() -> None:
    anonymous = AsyncAction.model_validate(
        {
            "id": "aa_anon",
            "type": "ORDERS.IMPORT",
            "status": "DONE",
            "request_id": "v-1",
            "result": {
                "done_count": 5,
                "failed_count": 3,
                "failed": [
                    {"source_id": None, "reason": "a"},
                    {"source_id": None, "reason": "b"},
                    {"source_id": "o-3", "reason": "c"},
                ],
            },
        }
    )

    failed = evaluate([anonymous], max_failed_orders=0)
    tolerated = evaluate([anonymous], max_failed_orders=3)

    assert failed.status is Outcome.FAILED
    assert "2 failed orders without source_id in aa_anon" in failed.message
    assert "  - source_id=(none): a" in failed.message
    assert tolerated.status is Outcome.SUCCESS
    assert tolerated.message.endswith("; 2 failed orders without source_id in aa_anon")
