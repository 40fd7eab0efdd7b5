"""Is waiting over, and did it succeed? The one place that decides.

``evaluate`` is pure: the sensor's poke, the trigger, and ``ImportOrdersOperator`` with
``wait_for_completion=True`` all hand it the current state of their async actions and act on
its answer. Nothing else in the provider compares action statuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

from airflow_provider_voucherify.models import ActionStatus, AsyncAction, FailedOrder

MAX_FAILED_ORDERS_IN_SUMMARY = 100
MAX_FAILED_ORDERS_IN_MESSAGE = 20


class Outcome(str, Enum):
    """Where waiting stands. ``RUNNING`` means poll again."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    ERROR = "error"


class Summary(BaseModel):
    """What a finished wait reports: bounded, whatever the size of the import."""

    actions: list[str]
    done_count: int = 0
    failed_count: int = 0
    failed_orders: list[FailedOrder] = Field(default_factory=list)


class Verdict(BaseModel):
    """The answer of :func:`evaluate`, also the payload of the trigger's single event."""

    status: Outcome
    message: str
    summary: Summary | None = None
    failed_actions: list[str] = Field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status is not Outcome.RUNNING

    def to_event(self) -> dict[str, Any]:
        """Primitives only, for a ``TriggerEvent``."""
        return self.model_dump(mode="json")

    @classmethod
    def from_event(cls, payload: dict[str, Any]) -> Verdict:
        return cls.model_validate(payload)


def summarize(actions: Sequence[AsyncAction]) -> Summary:
    """Sum the import results of finished actions, keeping at most 100 failed orders."""
    summary = Summary(actions=[action.id for action in actions])
    for action in actions:
        result = action.import_result
        if result is None:
            continue
        summary.done_count += result.done_count
        summary.failed_count += result.failed_count
        room = MAX_FAILED_ORDERS_IN_SUMMARY - len(summary.failed_orders)
        summary.failed_orders.extend(result.failed[: max(room, 0)])
    return summary


def describe_anonymous(actions: Sequence[AsyncAction]) -> str:
    """``; 2 failed orders without source_id in aa_...``: the API may report a failed order with
    ``source_id: null``, which no listing can name; empty when there are none. Counts what the
    results list ("at least" when a result lists fewer orders than its ``failed_count``)."""
    parts = []
    for action in actions:
        result = action.import_result
        if result is None:
            continue
        count = sum(order.source_id is None for order in result.failed)
        if count:
            bound = "at least " if len(result.failed) < result.failed_count else ""
            parts.append(f"{bound}{count} failed orders without source_id in {action.id}")
    return "".join(f"; {part}" for part in parts)


def describe_progress(actions: Sequence[AsyncAction]) -> str:
    """``2 of 5 async actions finished; aa_... at 40%``: for progress logs and running verdicts."""
    finished = sum(action.status.is_final for action in actions)
    text = f"{finished} of {len(actions)} async actions finished"
    running = [action for action in actions if action.status is ActionStatus.IN_PROGRESS]
    if running:
        text += "; " + ", ".join(f"{action.id} at {action.progress or 0}%" for action in running)
    return text


def evaluate(actions: Sequence[AsyncAction], max_failed_orders: int = 0) -> Verdict:
    """Decide whether waiting on ``actions`` is over.

    - any action ``FAILED``: failed, naming its id and request_id;
    - the summed ``failed_count`` of the ``DONE`` actions above ``max_failed_orders``: failed,
      listing the first 20 failed orders and the total; at once, even while others still run,
      since counts only grow;
    - any action not yet ``DONE``: running, with progress;
    - else success; also for no actions at all (an import that sent nothing), with an empty summary.
    """
    if not actions:
        return Verdict(
            status=Outcome.SUCCESS,
            message="No async actions to wait for: nothing was sent",
            summary=Summary(actions=[]),
        )
    for action in actions:
        if action.status is ActionStatus.FAILED:
            detail = action.import_result.message if action.import_result else None
            return Verdict(
                status=Outcome.FAILED,
                message=(
                    f"Async action {action.id} FAILED (request_id={action.request_id})"
                    + (f": {detail}" if detail else "")
                ),
                summary=summarize(actions),
                failed_actions=[a.id for a in actions if a.status is ActionStatus.FAILED],
            )
    summary = summarize(actions)
    running = sum(action.status is not ActionStatus.DONE for action in actions)
    if summary.failed_count > max_failed_orders:
        first = summary.failed_orders[:MAX_FAILED_ORDERS_IN_MESSAGE]
        listing = "\n".join(
            f"  - source_id={order.source_id if order.source_id is not None else '(none)'}: {order.reason}"
            for order in first
        )
        by_action = ", ".join(
            f"{action.id} (request_id={action.request_id}): {action.import_result.failed_count}"
            for action in actions
            if action.import_result and action.import_result.failed_count
        )
        return Verdict(
            status=Outcome.FAILED,
            message=(
                f"{summary.failed_count} orders failed to import, more than max_failed_orders="
                f"{max_failed_orders} ({summary.done_count} imported). Failed per action: {by_action}"
                f"{describe_anonymous(actions)}. "
                f"First {len(first)}:\n{listing}"
                + (f"\n({running} async actions had not finished yet)" if running else "")
            ),
            summary=summary,
        )
    if running:
        return Verdict(status=Outcome.RUNNING, message=describe_progress(actions))
    return Verdict(
        status=Outcome.SUCCESS,
        message=(
            f"{len(actions)} async actions DONE: {summary.done_count} orders imported, "
            f"{summary.failed_count} failed (tolerated up to {max_failed_orders})"
            f"{describe_anonymous(actions)}"
        ),
        summary=summary,
    )
