"""Counts from the async actions, the detection figure, the sample size for a rate, the table."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_voucherify.models import AsyncAction
from airflow_provider_voucherify.reconcile.compare import Difference
from airflow_provider_voucherify.reconcile.report import (
    ActionTotals,
    count_problem,
    detectable_rate,
    render_table,
    sample_size_for,
)


def action(
    action_id: str, status: str = "DONE", done: int = 0, failed: list[Any] | None = None
) -> AsyncAction:
    failed = failed or []
    result = {"done_count": done, "failed_count": len(failed), "failed": failed} if status != "FAILED" else {}
    return AsyncAction.model_validate(
        {"id": action_id, "type": "ORDERS.IMPORT", "status": status, "result": result or None}
    )


def test_counts_add_done_and_failed_over_the_actions() -> None:
    totals = ActionTotals.of(
        [action("aa_1", done=3), action("aa_2", done=1, failed=[{"source_id": None, "reason": "bad"}])]
    )

    assert (totals.done, totals.failed, totals.failed_without_source_id) == (4, 1, 1)
    assert count_problem(5, totals) is None


def test_a_count_difference_names_the_failed_actions() -> None:
    totals = ActionTotals.of([action("aa_1", done=3), action("aa_2", status="FAILED")])

    problem = count_problem(5, totals)

    assert problem is not None
    assert "5 valid orders" in problem
    assert "accounts for 3" in problem
    assert "aa_2 (FAILED" in problem
    assert "aa_1" not in problem


def test_empty_action_list_accounts_for_no_orders() -> None:
    assert count_problem(0, ActionTotals.of([])) is None
    assert count_problem(1, ActionTotals.of([])) is not None


@pytest.mark.parametrize(("n", "rate"), [(100, 0.0295), (300, 0.00994), (1, 0.95), (20, 0.1391)])
def test_detectable_rate_is_one_minus_alpha_to_the_one_over_n(n: int, rate: float) -> None:
    assert detectable_rate(n) == pytest.approx(rate, abs=1e-4)


def test_detectable_rate_of_nothing_and_of_a_census() -> None:
    assert detectable_rate(0) == 1.0
    assert detectable_rate(40, census=True) == 0.0


@pytest.mark.parametrize(("rate", "n"), [(0.03, 99), (0.0295, 101), (0.01, 299), (0.1, 29)])
def test_sample_size_for_a_rate_is_the_smallest_that_detects_it(rate: float, n: int) -> None:
    assert sample_size_for(rate) == n
    assert detectable_rate(n) <= rate < detectable_rate(n - 1)


def test_sample_size_for_a_rate_refuses_impossible_rates() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        sample_size_for(0)


def test_the_table_lines_up_and_is_cut() -> None:
    rows = [Difference("O-1", "amount", "2000", "1999"), Difference("O-22", "status", "PAID", "CREATED")]

    assert render_table(rows).splitlines() == [
        "source_id | field  | sent | stored",
        "----------+--------+------+--------",
        "O-1       | amount | 2000 | 1999",
        "O-22      | status | PAID | CREATED",
    ]
    assert render_table(rows, limit=1).splitlines()[-1] == "... and 1 more differences"
