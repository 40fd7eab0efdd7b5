"""Helpers for the tests of waiting (polling, trigger, sensor): a slow emulator and queued imports.

Import the fixtures a module uses with the helpers: ``slow_emulator`` needs ``slow_emulator_server``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from tests.airflow_helpers import point_connection, run_test_dag

__all__ = ["point_connection", "run_test_dag"]

# Slow enough that a few imports of 10 orders stay queued for a second or two.
ORDERS_PER_SECOND = 40


def order(source_id: str, **fields: Any) -> dict[str, Any]:
    """A valid order with one product item (created by the import from its source_id)."""
    return {
        "source_id": source_id,
        "status": "PAID",
        "amount": 2000,
        "items": [{"source_id": "sku-1", "related_object": "product", "quantity": 2, "price": 1000}],
        **fields,
    }


def bad_order(source_id: str) -> dict[str, Any]:
    """An order the import rejects: its item names a product that does not exist."""
    return order(source_id, items=[{"product_id": "prod_does_not_exist", "quantity": 1, "price": 1000}])


def queue_imports(count: int, orders_each: int = 10, prefix: str = "ord") -> list[str]:
    """Send ``count`` imports through the hook; returns their async action ids."""
    hook = VoucherifyHook()
    try:
        return [
            hook.import_orders([order(f"{prefix}-{i}-{n}") for n in range(orders_each)]) for i in range(count)
        ]
    finally:
        hook.close()


def requests(server: EmulatorServer, route: str) -> int:
    """How many requests ``route`` (e.g. ``GET /v1/async-actions``) has served, whatever the status."""
    counts = server.stats()["requests"].get(route, {})
    return sum(int(n) for n in counts.values())


@pytest.fixture(scope="session")
def slow_emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(
        tmp_path_factory.mktemp("slow-emulator"), orders_per_second=ORDERS_PER_SECOND
    ) as server:
        yield server


@pytest.fixture
def slow_emulator(slow_emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """An emulator importing ``ORDERS_PER_SECOND`` orders a second, wiped, and the default connection."""
    slow_emulator_server.reset()
    point_connection(monkeypatch, slow_emulator_server)
    return slow_emulator_server
