"""A reconciliation's state survives a deferral: JSON out, the same state back, nothing personal."""

from __future__ import annotations

import json

from airflow_provider_voucherify.reconcile.check import SampleResult
from airflow_provider_voucherify.reconcile.compare import Difference
from airflow_provider_voucherify.reconcile.links import PartyLinks
from airflow_provider_voucherify.reconcile.sample import SourceCounts
from airflow_provider_voucherify.reconcile.state import Drawn, ReconcileState


def test_the_state_round_trips_through_json() -> None:
    links = PartyLinks()
    links.record("o1", {"customer": {"source_id": "jane@example.org"}}, {"customer_id": "cust_1"})
    state = ReconcileState(
        seed="manual__2024-01-01",
        drawn=Drawn(
            done=9,
            failed=1,
            failed_without_source_id=0,
            counts=SourceCounts(read=11, valid=10, invalid=1, refused=1, invalid_examples=[(4, "o4")]),
            count_problem=None,
            sample_ids=["o1", "o2", "o3"],
            census=False,
        ),
        result=SampleResult(
            sampled=1,
            matched=0,
            order_reads=1,
            differences=[Difference("o1", "customer.email", "(not shown)", "differs")],
            compared=["o1"],
            links=links,
        ),
        waits=2,
    )

    text = json.dumps(state.to_dict())
    again = ReconcileState.from_dict(json.loads(text))

    assert again == state
    assert "jane" not in text
    assert again.reads_left(actions=5, sample_size=3) == 2


def test_a_seed_is_picked_and_kept_when_none_is_given() -> None:
    picked = ReconcileState.start(None).seed
    assert isinstance(picked, int)
    assert ReconcileState.from_dict(ReconcileState.start(picked).to_dict()).seed == picked
    assert ReconcileState.start("run-1").seed == "run-1"
    assert ReconcileState.start(None).reads_left(actions=50, sample_size=100) == 150
