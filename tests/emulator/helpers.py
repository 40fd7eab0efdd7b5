"""Small helpers shared by the emulator tests."""

from __future__ import annotations

from typing import Any

import httpx

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions


def order(source_id: str | None, **fields: Any) -> dict[str, Any]:
    """A valid order with one product item."""
    body: dict[str, Any] = {
        "status": "PAID",
        "amount": 2000,
        "items": [{"source_id": "sku-1", "related_object": "product", "quantity": 2, "price": 1000}],
        "metadata": {"created_at": "2021-03-04T05:06:07Z"},
    }
    if source_id is not None:
        body["source_id"] = source_id
    body.update(fields)
    return body


def orders(prefix: str, count: int) -> list[dict[str, Any]]:
    return [order(f"{prefix}-{index}") for index in range(count)]


def post_import(client: httpx.Client, body: Any) -> str:
    response = client.post("/v1/orders/import", json=body)
    assert response.status_code == 200, response.text
    action_id: str = response.json()["async_action_id"]
    return action_id


def import_and_wait(server: EmulatorServer, body: Any, deadline_s: float = 30.0) -> dict[str, Any]:
    with server.client() as client:
        action_id = post_import(client, body)
    action: dict[str, Any] = wait_for_actions(server, [action_id], deadline_s)[action_id]
    return action
