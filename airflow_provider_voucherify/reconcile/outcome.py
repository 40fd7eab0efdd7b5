"""The end of a reconciliation: the summary it returns, what it logs, and whether it fails."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_voucherify.exceptions import VoucherifyError
from airflow_provider_voucherify.reconcile.report import detectable_rate, render_table
from airflow_provider_voucherify.reconcile.state import ReconcileState

if TYPE_CHECKING:
    from airflow_provider_voucherify.reconcile.export import ExportComparison

MAX_TABLE_ROWS = 50


class ReconciliationError(VoucherifyError):
    """What was sent and what Voucherify holds differ: counts, or more sampled orders than tolerated.

    A retry would read the same answers, so the operator fails at once on it.
    """


def summarize(
    state: ReconcileState,
    *,
    confidence: float,
    max_mismatches: int,
    log: logging.Logger | Any,
    export: ExportComparison | None = None,
) -> dict[str, Any]:
    """The summary (XCom) of a finished reconciliation, logged.

    :param export: what the comparison through an export found: adds ``checked``, ``missing``
        (orders Voucherify does not hold: replaces the sample's count) and ``differing``
    :raises ReconciliationError: when the counts differ, or more than ``max_mismatches`` sampled
        orders (or, with ``export``, orders) differ from what was sent (with the table of
        differences: by ``source_id`` and field only, for an export)
    """
    drawn, result = state.drawn, state.result
    assert drawn is not None
    counts = drawn.counts
    summary = {
        "sent": counts.valid,
        "done": drawn.done,
        "failed": drawn.failed,
        "invalid": counts.invalid,
        "sampled": result.sampled,
        "matched": result.matched,
        "mismatches": result.mismatches,
        "missing": result.missing,
        "detectable_corruption_rate": round(
            detectable_rate(result.sampled, confidence, census=drawn.census), 4
        ),
        "confidence": confidence,
        "order_reads": result.order_reads,
        "customer_reads": result.customer_reads,
        "seed": state.seed,
        "rate_limit_waits": state.waits,
    }
    if export is not None:
        summary.update(checked=export.checked, missing=export.missing, differing=export.differing)
    if counts.invalid:
        examples = ", ".join(f"line {line} ({source_id})" for line, source_id in counts.invalid_examples)
        log.warning(
            "%d records the import rejects (never sent, not counted as missing): %s",
            counts.invalid,
            examples,
        )
    rate = summary["detectable_corruption_rate"] * 100
    log.info("%d of %d sampled orders match what was sent", result.matched, result.sampled)
    if not result.differences:
        log.info(
            "What this proves: a corruption rate above %.2f%% would have been caught with %.0f%% probability",
            rate,
            confidence * 100,
        )
    log.info("Reconciliation: %s", summary)
    problems = []
    if drawn.count_problem:
        problems.append(f"Counts differ: {drawn.count_problem}")
    if result.differences:
        table = render_table(result.differences, limit=MAX_TABLE_ROWS)
        log.warning("Differences between what was sent and what Voucherify holds:\n%s", table)
        if result.mismatches > max_mismatches:
            problems.append(
                f"{result.mismatches} of {result.sampled} sampled orders differ from what was sent "
                f"(max_mismatches={max_mismatches}):\n{table}"
            )
    if export is not None:
        problems += _export_problems(export, max_mismatches, log)
    if problems:
        raise ReconciliationError("\n".join(problems))
    return summary


def _export_problems(export: ExportComparison, max_mismatches: int, log: logging.Logger | Any) -> list[str]:
    wrong = export.missing + export.differing
    log.info(
        "Export %s: %d orders compared, %d missing, %d differing",
        export.export_id,
        export.checked,
        export.missing,
        export.differing,
    )
    if not wrong:
        return []
    log.warning("Orders missing or differing in Voucherify (source_id, field):\n%s", export.table())
    if wrong <= max_mismatches:
        return []
    return [
        f"{export.missing} of {export.checked} orders are missing in Voucherify and {export.differing} "
        f"differ from what was sent (max_mismatches={max_mismatches}):\n{export.table()}"
    ]
