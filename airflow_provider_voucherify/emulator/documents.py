"""Stored orders rendered as the API's order objects (``object: "order"`` with ``order_item`` items).

An order row keeps the JSON it was imported with; its items learn their Voucherify ``product_id`` and
``sku_id`` here, from the catalog as it stands when read.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from airflow_provider_voucherify.emulator.processing import items_amount

Doc = dict[str, Any]

ORDER_COLUMNS = "id, source_id, customer_id, referrer_id, amount, created_at, updated_at, data"
_ITEM_FIELDS = (
    "source_id", "related_object", "product_id", "sku_id", "quantity", "discount_quantity",
    "initial_quantity", "amount", "discount_amount", "initial_amount", "price",
)  # fmt: skip


class _CatalogIds:
    """Voucherify ids of the products and SKUs that a page of orders names by source_id."""

    def __init__(self, conn: sqlite3.Connection, project: str, raws: list[Doc]) -> None:
        wanted: dict[str, set[str]] = {"product": set(), "sku": set()}
        for raw in raws:
            for item in raw.get("items") or ():
                for kind in wanted:
                    if source_id := self._source(item, kind):
                        wanted[kind].add(source_id)
        self.products: dict[str, str] = {}
        self.skus: dict[str, tuple[str, str]] = {}
        for source_ids in _chunks(wanted["product"]):
            query = (
                "SELECT source_id, id FROM products"
                f" WHERE project = ? AND source_id IN ({_marks(source_ids)})"
            )
            self.products.update(conn.execute(query, (project, *source_ids)).fetchall())
        for source_ids in _chunks(wanted["sku"]):
            query = (
                "SELECT source_id, id, product_id FROM skus"
                f" WHERE project = ? AND source_id IN ({_marks(source_ids)})"
            )
            for source_id, sku_id, product_id in conn.execute(query, (project, *source_ids)):
                self.skus[source_id] = (sku_id, product_id)

    @staticmethod
    def _source(item: Doc, kind: str) -> str | None:
        inline = item.get(kind) or {}
        source_id = inline.get("source_id")
        if source_id is None and item.get("related_object") == kind:
            source_id = item.get("source_id")
        return source_id if isinstance(source_id, str) else None

    def item(self, item: Doc) -> Doc:
        out: Doc = {"object": "order_item"}
        for key in _ITEM_FIELDS:
            if key in item:
                out[key] = item[key]
        product = item.get("product") or {}
        product_id = (
            item.get("product_id")
            or product.get("id")
            or self.products.get(self._source(item, "product") or "")
        )
        sku = item.get("sku") or {}
        sku_id = item.get("sku_id") or sku.get("id")
        parent = None
        if not sku_id and (found := self.skus.get(self._source(item, "sku") or "")):
            sku_id, parent = found
        if product_id or parent:
            out["product_id"] = product_id or parent
        if sku_id:
            out["sku_id"] = sku_id
        if "amount" not in out and "price" in out and "quantity" in out:
            out["amount"] = out["price"] * out["quantity"]
        for kind, inline in (("product", product), ("sku", sku)):
            if inline:
                out[kind] = {key: value for key, value in inline.items() if key != "override"}
        if "metadata" in item:
            out["metadata"] = item["metadata"]
        return out


def _chunks(keys: set[str]) -> list[list[str]]:
    ordered = sorted(keys)
    return [ordered[start : start + 500] for start in range(0, len(ordered), 500)]


def _marks(keys: list[str]) -> str:
    return ",".join("?" * len(keys))


def render_orders(conn: sqlite3.Connection, project: str, rows: list[tuple[Any, ...]]) -> list[Doc]:
    """Order rows (``ORDER_COLUMNS``) as API order objects."""
    raws = [json.loads(row[-1]) for row in rows]
    catalog = _CatalogIds(conn, project, raws)
    orders = []
    for row, raw in zip(rows, raws, strict=True):
        order_id, source_id, customer_id, referrer_id, amount, created_at, updated_at, _ = row
        doc: Doc = {
            "id": order_id,
            "source_id": source_id,
            "created_at": created_at,
            "updated_at": updated_at,
            "status": raw.get("status", "CREATED"),
        }
        items = [catalog.item(item) for item in raw.get("items") or ()]
        if amount is None and items:
            amount = items_amount(items)
        if amount is not None:
            doc["amount"] = amount
        for key in ("initial_amount", "discount_amount"):
            if key in raw:
                doc[key] = raw[key]
        doc["items"] = items
        doc["metadata"] = raw.get("metadata", {})
        doc["customer_id"] = customer_id
        doc["referrer_id"] = referrer_id
        if customer_id:
            doc["customer"] = {"id": customer_id, "object": "customer"}
        if referrer_id:
            doc["referrer"] = {"id": referrer_id, "object": "customer"}
        doc["object"] = "order"
        orders.append(doc)
    return orders
