"""Bulk customer updates (``POST /v1/customers/bulk/async``): another kind of async action.

They share the project's queue and list with order imports (``CUSTOMERS.BULK_UPDATE``), so a
client can see its import wait ``ENQUEUED`` behind them and meet them in ``GET /v1/async-actions``.
A customer is upserted by ``source_id``: a missing one is created.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from airflow_provider_voucherify.emulator.ids import alnum_id, iso_ms
from airflow_provider_voucherify.emulator.processing import _CUSTOMER_FIELDS, _Catalog, _changed

CUSTOMERS_BULK_UPDATE = "CUSTOMERS.BULK_UPDATE"
BULK_PATH = "/v1/customers/bulk/async"
REPORTS_DAYS_MS = 7 * 86_400_000


def check_customers(body: Any) -> str | None:
    """Why the request body is not a list of customers each with a ``source_id``; ``None`` if it is."""
    if not isinstance(body, list) or not body:
        return "Request body should be a non-empty array of customers"
    for index, customer in enumerate(body):
        if not isinstance(customer, dict):
            return f"Property [{index}] should be object"
        if not isinstance(customer.get("source_id"), str) or not customer["source_id"]:
            return f"Property [{index}].source_id is required"
    return None


class CustomerUpdater:
    """Upserts a chunk of customers (one JSON document each) in the caller's transaction."""

    def __init__(self, conn: sqlite3.Connection, project: str, now: str) -> None:
        self.customers = _Catalog(conn, "customers", project)
        self.now = now

    def run(self, lines: list[str]) -> tuple[int, list[dict[str, Any]]]:
        records = [json.loads(line) for line in lines]
        self.customers.load(set(), {record["source_id"] for record in records})
        for record in records:
            updates = {key: record[key] for key in _CUSTOMER_FIELDS if key in record}
            doc = self.customers.by_source.get(record["source_id"])
            if doc is None:
                doc = {"id": alnum_id("cust"), "source_id": record["source_id"], "metadata": {}}
                doc.update(updates, system_metadata={}, created_at=self.now, object="customer")
                self.customers.save(doc)
            elif _changed(doc, updates):
                self.customers.save({**doc, **updates, "updated_at": self.now})
        self.customers.write()
        return len(records), []


def bulk_result(done: int, failed: list[Any], now_ms: int) -> str:
    """The ``CUSTOMERS.BULK_UPDATE`` result: counts and (empty) report links."""
    return json.dumps(
        {
            "done_count": done,
            "failed_count": len(failed),
            "reports": [],
            "reports_available_till": iso_ms(now_ms + REPORTS_DAYS_MS),
        }
    )
