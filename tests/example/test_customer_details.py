"""``customer_details``: full profiles (which overwrite Voucherify's) or a link by source_id only,
checked end to end in the emulator: a later import with ``source_id_only`` leaves the profile alone."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.example.transform import orders_from_rows
from tests.emulator.helpers import import_and_wait


def rows(order_source_id: str, email: str) -> list[dict[str, Any]]:
    return [
        {
            "order_source_id": order_source_id,
            "order_status": "PAID",
            "order_amount": "10.00",
            "order_created_at": "2024-01-05T10:00:00Z",
            "customer_source_id": "cust-1",
            "customer_name": "Old Name",
            "customer_email": email,
            "customer_city": "Gdansk",
            "referrer_source_id": "cust-2",
            "referrer_email": "ref@example.com",
            "quantity": 1,
            "unit_price": "10.00",
        }
    ]


def test_source_id_only_sends_nothing_but_the_source_ids() -> None:
    (order,) = orders_from_rows(rows("o1", "old@example.com"), customer_details="source_id_only")
    assert order["customer"] == {"source_id": "cust-1"}
    assert order["referrer"] == {"source_id": "cust-2"}
    (full,) = orders_from_rows(rows("o1", "old@example.com"))
    assert full["customer"]["email"] == "old@example.com"
    assert full["customer"]["address"] == {"city": "Gdansk"}


def test_an_unknown_choice_is_refused() -> None:
    with pytest.raises(ValueError, match="customer_details"):
        list(orders_from_rows(rows("o1", "a@example.com"), customer_details="some"))  # type: ignore[arg-type]


def test_full_overwrites_the_profile_and_source_id_only_links_without_touching_it(
    emulator: EmulatorServer,
) -> None:
    current = list(orders_from_rows(rows("o-current", "new@example.com")))
    import_and_wait(emulator, current)
    historical = list(orders_from_rows(rows("o-2019", "old@example.com"), customer_details="source_id_only"))
    action = import_and_wait(emulator, historical)
    assert action["result"]["failed"] == []
    with emulator.client() as client:
        customer = client.get("/v1/customers/cust-1").json()
        order = client.get("/v1/orders/o-2019").json()
    assert customer["email"] == "new@example.com"
    assert order["customer"]["id"] == customer["id"]
    assert customer["summary"]["orders"]["total_count"] == 2
    overwritten = list(orders_from_rows(rows("o-2018", "old@example.com")))
    import_and_wait(emulator, overwritten)
    with emulator.client() as client:
        assert client.get("/v1/customers/cust-1").json()["email"] == "old@example.com"
