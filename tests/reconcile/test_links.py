"""Customer links checked from the order reads alone: same source_id, same stored customer."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_voucherify.reconcile.links import PartyLinks, stored_party_id


def sent(customer: str | None = None, referrer: str | None = None) -> dict[str, Any]:
    order: dict[str, Any] = {"amount": 100}
    if customer:
        order["customer"] = {"source_id": customer, "email": f"{customer}@example.org"}
    if referrer:
        order["referrer"] = {"source_id": referrer}
    return order


def stored(customer: str | None = None, referrer: str | None = None) -> dict[str, Any]:
    order: dict[str, Any] = {"amount": 100}
    if customer:
        order["customer"] = {"id": customer, "object": "customer"}
    if referrer:
        order["referrer_id"] = referrer
    return order


def mixups(*orders: tuple[str, dict[str, Any], dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    links = PartyLinks()
    for source_id, sent_order, stored_order in orders:
        links.record(source_id, sent_order, stored_order)
    return [(d.source_id, d.field, d.sent, d.stored) for d in links.differences()]


def test_consistent_links_are_no_difference() -> None:
    assert (
        mixups(
            ("o1", sent("alice"), stored("cust_a")),
            ("o2", sent("alice", referrer="bob"), stored("cust_a", referrer="cust_b")),
            ("o3", sent("bob"), stored("cust_b")),  # a referrer is a customer too
        )
        == []
    )


@pytest.mark.parametrize("role", ["customer", "referrer"])
def test_the_order_whose_customer_differs_from_the_others_is_named(role: str) -> None:
    # The odd one is named wherever it comes in the sample, not the orders seen after it.
    assert mixups(
        ("o1", sent(**{role: "alice"}), stored(**{role: "cust_x"})),
        ("o2", sent("alice"), stored("cust_a")),
        ("o3", sent("alice"), stored("cust_a")),
    ) == [("o1", role, "the same customer as o2's", "cust_x, not cust_a")]


def test_two_source_ids_on_one_stored_customer_is_a_mismatch() -> None:
    assert mixups(
        ("o1", sent("alice"), stored("cust_a")),
        ("o2", sent("bob"), stored("cust_a")),
    ) == [("o2", "customer", "another customer than o1's", "cust_a, the same")]


def test_nothing_personal_is_kept_or_shown_and_the_state_round_trips() -> None:
    links = PartyLinks()
    links.record("o1", sent("alice@example.org"), stored("cust_a"))
    again = PartyLinks.from_dict(links.to_dict())
    again.record("o2", sent("alice@example.org"), stored("cust_b"))
    found = again.differences()
    assert [d.source_id for d in found] == ["o2"]
    assert "alice" not in repr(again.to_dict()) + repr(found)


def test_orders_without_a_source_id_or_a_stored_link_are_left_to_the_comparison() -> None:
    links = PartyLinks()
    links.record("o1", {"customer": {"id": "cust_a"}}, stored("cust_a"))
    links.record("o2", sent("alice"), stored())
    assert links.to_dict() == {"seen": []}
    assert stored_party_id({"customer_id": "cust_a"}, "customer") == "cust_a"
