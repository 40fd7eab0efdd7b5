"""The alter_orders fault: a seeded share of stored orders changed after import, each one listed."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions


def import_orders(server: EmulatorServer, client: httpx.Client, count: int) -> None:
    orders = [
        {
            "source_id": f"O-{n}",
            "amount": 1000 + n,
            "items": [{"source_id": "sku-1", "related_object": "sku", "quantity": 2, "price": 500}],
            "metadata": {"original_created_at": "2021-03-04T05:06:07+00:00"},
        }
        for n in range(count)
    ]
    response = client.post("/v1/orders/import", json=orders)
    wait_for_actions(server, [response.json()["async_action_id"]])


@pytest.mark.parametrize(
    ("field", "check"),
    [
        ("amount", lambda before, after: after["amount"] == before["amount"] + 1),
        ("item_quantity", lambda before, after: after["items"][0]["quantity"] == 3),
        (
            "metadata_date",
            lambda before, after: after["metadata"]["original_created_at"] == "2021-03-05T05:06:07.000Z",
        ),
    ],
)
def test_each_field_is_altered_in_the_stored_order(
    emulator: EmulatorServer, field: str, check: object
) -> None:
    with emulator.client() as client:
        import_orders(emulator, client, 40)
        before = {f"O-{n}": client.get(f"/v1/orders/O-{n}").json() for n in range(40)}

        altered = emulator.set_faults(alter_orders={"share": 0.1, "fields": [field]}, seed=4)[
            "altered_orders"
        ]

        assert len(altered) == 4
        assert {entry["field"] for entry in altered} == {field}
        changed = {entry["source_id"] for entry in altered}
        for source_id, order in before.items():
            after = client.get(f"/v1/orders/{source_id}").json()
            assert check(order, after) if source_id in changed else after == order  # type: ignore[operator]


def test_deleted_orders_are_gone_and_the_choice_follows_the_seed(emulator: EmulatorServer) -> None:
    with emulator.client() as client:
        import_orders(emulator, client, 50)
        first = emulator.set_faults(alter_orders={"share": 0.04, "fields": ["deleted"]}, seed=9)[
            "altered_orders"
        ]
        for entry in first:
            assert client.get(f"/v1/orders/{entry['source_id']}").status_code == 404
        assert emulator.stats()["orders_stored"] == 48

    emulator.reset()
    with emulator.client() as client:
        import_orders(emulator, client, 50)
        again = emulator.set_faults(alter_orders={"share": 0.04, "fields": ["deleted"]}, seed=9)[
            "altered_orders"
        ]
    assert again == first


def test_bad_alterations_are_refused(emulator: EmulatorServer) -> None:
    for bad in (
        {"share": 0, "fields": ["amount"]},
        {"share": 0.1, "fields": []},
        {"share": 0.1, "fields": ["x"]},
    ):
        with pytest.raises(Exception, match="422"):
            emulator.set_faults(alter_orders=bad)


def test_a_customer_link_is_moved_to_another_stored_customer(emulator: EmulatorServer) -> None:
    with emulator.client() as client:
        orders = [
            {"source_id": f"O-{n}", "amount": 100, "customer": {"source_id": f"C-{n % 5}"}} for n in range(20)
        ]
        wait_for_actions(emulator, [client.post("/v1/orders/import", json=orders).json()["async_action_id"]])
        before = {f"O-{n}": client.get(f"/v1/orders/O-{n}").json() for n in range(20)}

        altered = emulator.set_faults(alter_orders={"share": 0.1, "fields": ["customer"]}, seed=3)[
            "altered_orders"
        ]

        assert [entry["field"] for entry in altered] == ["customer", "customer"]
        customers = {order["customer"]["id"] for order in before.values()}
        for source_id, order in before.items():
            after = client.get(f"/v1/orders/{source_id}").json()
            if source_id in {entry["source_id"] for entry in altered}:
                assert after["customer"]["id"] in customers - {order["customer"]["id"]}
                assert after["customer_id"] == after["customer"]["id"]
            else:
                assert after == order
