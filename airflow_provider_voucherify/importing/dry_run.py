"""A dry run: everything an import does but the bulk calls, and what a real run would send.

:func:`dry_run` reads and validates every record (preflight included), past ``max_invalid`` too,
since reporting every problem is what a dry run is for; it writes the rejects file and returns the
report of what a real run would send (:func:`dry_run_report`: batches, bulk calls, hours at the
plan's bulk limit). :meth:`DryRun.raise_for_stop` then fails where a real run would stop.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

from airflow_provider_voucherify.exceptions import InvalidOrderError
from airflow_provider_voucherify.importing.pipeline import ImportRules
from airflow_provider_voucherify.importing.plan_view import windows_spanned
from airflow_provider_voucherify.importing.rejects import RefusedTally, Rejects, RejectsFile
from airflow_provider_voucherify.importing.source import Location, OrdersArg, OrderSource
from airflow_provider_voucherify.importing.validation import Counts, OrderCheck, refuse_nothing_valid


@dataclass
class DryRun:
    """What a dry run found: the report (XCom ``import_summary``), the counts and the refusals."""

    report: dict[str, Any]
    counts: Counts
    refused: RefusedTally
    rules: ImportRules

    def raise_for_stop(self) -> None:
        """Fail where a real run would stop (past ``max_invalid``), or when no record was valid.

        :raises InvalidOrderError: naming the line a real run would stop at
        """
        if self.refused.stop_line is not None:
            rules = self.rules
            limit = f"max_invalid={rules.max_invalid}" if rules.on_invalid == "skip" else 'on_invalid="fail"'
            reason = (
                f"a real run would stop here ({limit}), having sent the batches before it; "
                f"{self.counts.invalid} invalid records in all, each reported above"
            )
            raise InvalidOrderError([("", reason)], line=self.refused.stop_line)
        refuse_nothing_valid(self.counts, self.refused.location)


def dry_run(
    source: OrderSource,
    rules: ImportRules,
    *,
    rejects: Rejects | None,
    check: OrderCheck | None,
    bulk_limit: tuple[int | None, Callable[[], Any]],
) -> DryRun:
    """Read every record of the entered ``source`` as ``rules`` would, and report what a real run
    would send.

    :param rejects: where invalid records are written (the rejects file), if anywhere
    :param check: the preflight's per-order check
    :param bulk_limit: ``(bulk_calls_per_hour, rate_limit)``: the operator's parameter, and how to
        read the client's latest rate-limit view (read after the reading, so the preflight's answers
        count)
    """
    counts = Counts()
    stop_after = rules.max_invalid if rules.on_invalid == "skip" else 0
    refused = RefusedTally(rejects, stop_after=stop_after)
    every = replace(rules, on_invalid="skip", max_invalid=sys.maxsize)
    sizes = [batch.count for batch in every.batches(source, counts=counts, rejects=refused, check=check)]
    given, rate_limit = bulk_limit
    per_hour, origin = bulk_calls_per_hour(given, rate_limit())
    report = dry_run_report(counts.as_dict(), sizes, bulk_calls_per_hour=per_hour, source=origin)
    return DryRun(report, counts, refused, rules)


def dry_run_of(
    orders: OrdersArg,
    rules: ImportRules,
    *,
    rejects_at: Location | None,
    check: OrderCheck | None,
    bulk_limit: tuple[int | None, Callable[[], Any]],
) -> DryRun:
    """:func:`dry_run` of ``orders`` (opened and closed here), the rejects written at ``rejects_at``."""
    with ExitStack() as stack:
        source = stack.enter_context(OrderSource(orders))
        rejects = stack.enter_context(RejectsFile(rejects_at)) if rejects_at is not None else None
        return dry_run(source, rules, rejects=rejects, check=check, bulk_limit=bulk_limit)


def bulk_calls_per_hour(given: int | None, rate_limit: Any) -> tuple[int | None, str | None]:
    """The plan's bulk calls per hour and where that came from: the parameter, else the latest
    ``X-Rate-Limit-*`` headers the hook saw (``hook.rate_limit``) when they were about bulk calls."""
    if given is not None:
        return given, "bulk_calls_per_hour"
    if rate_limit is None:
        return None, None
    if isinstance(rate_limit, Mapping):
        limit, limit_type = rate_limit.get("limit"), rate_limit.get("limit_type")
    else:
        limit, limit_type = getattr(rate_limit, "limit", None), getattr(rate_limit, "limit_type", None)
    if limit_type == "bulk_api_calls" and isinstance(limit, int) and limit > 0:
        return limit, "X-Rate-Limit-Limit"
    return None, None


def dry_run_report(
    counts: Mapping[str, int],
    batch_sizes: list[int],
    *,
    bulk_calls_per_hour: int | None,
    source: str | None,
) -> dict[str, Any]:
    """What a real run would do, for XCom ``import_summary``: plain JSON, no personal data.

    :param counts: ``read``, ``valid``, ``invalid``
    :param batch_sizes: the number of orders of each batch a real run would send
    :param bulk_calls_per_hour: the plan's bulk limit, if known; ``source`` says where it came from
    """
    bulk_calls = len(batch_sizes)
    report: dict[str, Any] = {
        **counts,
        "dry_run": True,
        "sent": 0,
        "skipped_on_retry": 0,
        "batches": bulk_calls,
        "bulk_calls": bulk_calls,
        "largest_batch": max(batch_sizes, default=0),
        "bulk_calls_per_hour": bulk_calls_per_hour,
        "bulk_limit_source": source if bulk_calls_per_hour else None,
        # Windows are calendar hours: n calls at k per hour span ceil(n / k) of them (the very
        # arithmetic of a running import's ETA).
        "hours_at_bulk_limit": (
            windows_spanned(bulk_calls, bulk_calls_per_hour, bulk_calls_per_hour)
            if bulk_calls_per_hour
            else None
        ),
    }
    return report
