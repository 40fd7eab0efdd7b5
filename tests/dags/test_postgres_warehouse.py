"""The same backfill against a real PostgreSQL warehouse: the extract is plain, portable SQL."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.example.extract import stream_rows
from scripts.sample_warehouse import Warehouse, generate, load
from tests.dags.conftest import RunBackfill, assert_months_verified
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres_warehouse(
    postgres_server: PostgresServer, request: pytest.FixtureRequest
) -> tuple[str, Warehouse]:
    name = "warehouse_" + request.node.name.lower()[-40:].replace("[", "_").replace("]", "")
    postgres_server.create_database(name)
    # Months of their own, so dag.test() runs never share a logical date with the SQLite tests.
    warehouse, rows = generate(months=2, orders_per_month=40, seed=23, start=date(2023, 5, 1))
    load(lambda: postgres_server.connect(name), "%s", rows)
    return postgres_server.conn_uri(name), warehouse


def test_backfill_from_postgres_imports_and_verifies(
    run_backfill: RunBackfill, postgres_warehouse: tuple[str, Warehouse], emulator: EmulatorServer
) -> None:
    conn, warehouse = postgres_warehouse

    results = run_backfill(conn, warehouse)

    assert_months_verified(results, warehouse)
    assert emulator.stats()["orders_stored"] == warehouse.orders - warehouse.bad_orders


def test_extract_reads_postgres_through_a_server_side_cursor(
    postgres_warehouse: tuple[str, Warehouse], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    uri, _ = postgres_warehouse
    monkeypatch.setenv("AIRFLOW_CONN_PG_WAREHOUSE", uri)
    hook = PostgresHook(postgres_conn_id="pg_warehouse")
    cursors: list[Any] = []
    real_get_conn = hook.get_conn

    def spying_get_conn() -> object:
        conn = real_get_conn()
        real_cursor = conn.cursor

        class Spy:
            def __getattr__(self, name: str) -> object:
                return getattr(conn, name)

            def cursor(self, *args: object, **kwargs: object) -> object:
                cursor = real_cursor(*args, **kwargs)
                cursors.append(cursor)
                return cursor

        return Spy()

    monkeypatch.setattr(hook, "get_conn", spying_get_conn)
    rows = list(stream_rows(hook, "SELECT source_id FROM orders ORDER BY source_id", fetch_size=7))

    assert len(rows) == 80
    assert rows[0] == {"source_id": "ORD-202305-00001"}
    assert [cursor.name for cursor in cursors] == ["voucherify_extract"]
