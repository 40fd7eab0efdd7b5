"""Stored orders altered after their import: the corruption a reconciliation must catch.

``POST /_emulator/faults`` with ``{"alter_orders": {"share": 0.05, "fields": [...]}, "seed": 1}``
picks ``round(share x stored orders)`` orders (at least one) with a generator seeded by ``seed``
and changes one field of each, chosen among ``fields``:

- ``amount``: the order amount plus one;
- ``item_quantity``: the first item's quantity plus one (amounts left as they were);
- ``metadata_date``: ``metadata[metadata_key]`` (an ISO 8601 date) one day later;
- ``customer``: the order now points at another stored customer of its project (a mixed-up link);
- ``deleted``: the order is gone.

An order without the chosen field (no items, no such metadata date, no other customer) gets its
amount changed instead. The answer lists every altered order as ``{"source_id", "field"}`` under
``altered_orders``.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import timedelta, timezone
from typing import Any

from airflow_provider_voucherify.emulator.faults import OrderAlteration
from airflow_provider_voucherify.emulator.store import Store, transaction
from airflow_provider_voucherify.formats import parse_datetime


def _later(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        moment = parse_datetime(text)
    except ValueError:
        return None
    return (moment + timedelta(days=1)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _alter(conn: sqlite3.Connection, row: tuple[Any, ...], field: str, metadata_key: str) -> str:
    order_id, amount, data = row
    order = json.loads(data)
    if field == "deleted":
        conn.execute("DELETE FROM orders WHERE id = ?", (order_id,))
        return field
    if field == "item_quantity" and order.get("items"):
        item = order["items"][0]
        item["quantity"] = int(item.get("quantity") or 1) + 1
        conn.execute("UPDATE orders SET data = ? WHERE id = ?", (json.dumps(order), order_id))
        return field
    if field == "customer":
        other = conn.execute(
            "SELECT c.id FROM customers c JOIN orders o ON o.project = c.project"
            " WHERE o.id = ? AND c.id IS NOT o.customer_id ORDER BY c.id LIMIT 1",
            (order_id,),
        ).fetchone()
        if other is not None:
            conn.execute("UPDATE orders SET customer_id = ? WHERE id = ?", (other[0], order_id))
            return field
    metadata = order.get("metadata") or {}
    if field == "metadata_date" and (later := _later(metadata.get(metadata_key))) is not None:
        metadata[metadata_key] = later
        conn.execute("UPDATE orders SET data = ? WHERE id = ?", (json.dumps(order), order_id))
        return field
    if amount is None and "amount" in order:
        amount = order["amount"]
    conn.execute("UPDATE orders SET amount = ? WHERE id = ?", ((amount or 0) + 1, order_id))
    return "amount"


def alter_stored_orders(store: Store, alteration: OrderAlteration, seed: int | None) -> list[dict[str, str]]:
    """Alter a share of every project's stored orders now; returns ``{"source_id", "field"}`` each."""
    rng = random.Random(seed)
    with store.lock, transaction(store.conn) as conn:
        rows = conn.execute("SELECT id, amount, data, source_id FROM orders ORDER BY rowid").fetchall()
        if not rows:
            return []
        count = max(1, round(alteration.share * len(rows)))
        altered = []
        for row in rng.sample(rows, min(count, len(rows))):
            field = _alter(conn, row[:3], rng.choice(alteration.fields), alteration.metadata_key)
            altered.append({"source_id": row[3], "field": field})
    return altered
