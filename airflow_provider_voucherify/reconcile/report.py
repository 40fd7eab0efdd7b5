"""The figures of a reconciliation: counts from the async actions, what a sample proves, the table.

Pure functions over plain data; the operator logs and returns what they compute.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from airflow_provider_voucherify.models import ActionStatus, AsyncAction
from airflow_provider_voucherify.reconcile.compare import Difference

DEFAULT_CONFIDENCE = 0.95
MAX_NAMED_ACTIONS = 10


@dataclass(frozen=True)
class ActionTotals:
    """``done_count`` and ``failed_count`` summed over the import's actions."""

    actions: tuple[AsyncAction, ...]
    done: int
    failed: int
    failed_without_source_id: int

    @classmethod
    def of(cls, actions: Sequence[AsyncAction]) -> ActionTotals:
        done = failed = anonymous = 0
        for action in actions:
            result = action.import_result
            if result is not None:
                done += result.done_count
                failed += result.failed_count
                anonymous += sum(1 for entry in result.failed if entry.source_id is None)
        return cls(tuple(actions), done, failed, anonymous)

    def unfinished(self) -> list[AsyncAction]:
        return [action for action in self.actions if not action.status.is_final]


def count_problem(sent: int, totals: ActionTotals) -> str | None:
    """Why ``sent`` orders do not add up to the actions' done + failed; ``None`` when they do."""
    accounted = totals.done + totals.failed
    if accounted == sent:
        return None
    whole_failures = [a for a in totals.actions if a.status is ActionStatus.FAILED]
    named = whole_failures or list(totals.actions)
    listed = ", ".join(_describe(action) for action in named[:MAX_NAMED_ACTIONS])
    more = f" and {len(named) - MAX_NAMED_ACTIONS} more" if len(named) > MAX_NAMED_ACTIONS else ""
    which = "these imports FAILED as a whole" if whole_failures else "the actions"
    return (
        f"the input holds {sent} valid orders, but Voucherify accounts for {accounted} "
        f"(done {totals.done} + failed {totals.failed}) over {len(totals.actions)} async actions; "
        f"{which}: {listed}{more}"
    )


def _describe(action: AsyncAction) -> str:
    result = action.import_result
    counts = f"done {result.done_count}, failed {result.failed_count}" if result else "no result"
    request = f", request_id {action.request_id}" if action.request_id else ""
    return f"{action.id} ({action.status.value}, {counts}{request})"


def detectable_rate(compared: int, confidence: float = DEFAULT_CONFIDENCE, census: bool = False) -> float:
    """The corruption rate a clean sample of ``compared`` orders rules out, at ``confidence``.

    If a share ``p`` of the orders were wrong, ``n`` orders drawn at random would all be right with
    probability at most ``(1 - p)^n``; that is below ``1 - confidence`` for every ``p`` above
    ``1 - (1 - confidence)^(1/n)`` (n = 100 at 95 %: 2.95 %). Drawing without replacement from a
    finite input only makes a miss less likely, so the figure is conservative. ``1.0`` when
    nothing was compared; ``0.0`` for a census (every order compared).
    """
    if census and compared:
        return 0.0
    if compared <= 0:
        return 1.0
    return 1 - math.pow(1 - confidence, 1 / compared)


def sample_size_of(value: int | str) -> int:
    """A ``sample_size`` argument (an int, or digits rendered by a template) as a count."""
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"sample_size must be a whole number, got {value!r}") from None
    if size < 0:
        raise ValueError(f"sample_size must not be negative, got {size}")
    return size


def sample_size_for(rate: float, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """The smallest sample whose clean result rules out a corruption rate above ``rate``."""
    if not 0 < rate < 1:
        raise ValueError(f"the corruption rate to detect must be between 0 and 1, got {rate}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return math.ceil(math.log(1 - confidence) / math.log(1 - rate) - 1e-9)


def render_table(differences: Iterable[Difference], limit: int | None = None) -> str:
    """A plain-text table (``source_id | field | sent | stored``), readable in a task log."""
    shown = list(differences)
    hidden = 0
    if limit is not None and len(shown) > limit:
        shown, hidden = shown[:limit], len(shown) - limit
    rows = [("source_id", "field", "sent", "stored")] + [
        (d.source_id, d.field, d.sent, d.stored) for d in shown
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    if hidden:
        lines.append(f"... and {hidden} more differences")
    return "\n".join(lines)
