"""Applying a chunk of imported orders: reference checks, upserts, and failures of single orders.

A chunk is handled in one transaction with a few bulk reads and one ``executemany`` per table, so the
per-order cost is plain dictionary work.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from airflow_provider_voucherify.emulator.ids import alnum_id, hex_id

Doc = dict[str, Any]

_CUSTOMER_FIELDS = ("name", "description", "email", "phone", "birthdate", "birthday", "address", "metadata")
_ITEM_FIELDS = (
    "source_id",
    "related_object",
    "product_id",
    "sku_id",
    "quantity",
    "discount_quantity",
    "initial_quantity",
    "amount",
    "discount_amount",
    "initial_amount",
    "price",
)
_ORDER_AMOUNTS = ("amount", "initial_amount", "discount_amount")
_BATCH = 500  # bound on SQL parameters per IN (...) query


def _dumps(doc: Doc) -> str:
    return json.dumps(doc, separators=(",", ":"))


def _parts(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), _BATCH):
        yield keys[start : start + _BATCH]


class _Catalog:
    """The rows of one table a chunk refers to, by id and by source_id; changed rows are written back."""

    def __init__(self, conn: sqlite3.Connection, table: str, project: str) -> None:
        self.conn, self.table, self.project = conn, table, project
        self.by_id: dict[str, Doc] = {}
        self.by_source: dict[str, Doc] = {}
        self.dirty: dict[str, Doc] = {}

    def load(self, ids: Iterable[str], source_ids: Iterable[str]) -> None:
        for column, keys in (("id", set(ids)), ("source_id", set(source_ids))):
            for part in _parts(list(keys)):
                marks = ",".join("?" * len(part))
                query = f"SELECT data FROM {self.table} WHERE project = ? AND {column} IN ({marks})"
                for (data,) in self.conn.execute(query, (self.project, *part)):
                    self._index(json.loads(data))

    def _index(self, doc: Doc) -> None:
        self.by_id[doc["id"]] = doc
        if doc.get("source_id") is not None:
            self.by_source[doc["source_id"]] = doc

    def save(self, doc: Doc) -> None:
        self._index(doc)
        self.dirty[doc["id"]] = doc

    def write(self) -> None:
        if self.table == "skus":
            self.conn.executemany(
                "INSERT INTO skus (id, project, source_id, product_id, data) VALUES (?,?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET source_id = excluded.source_id,"
                " product_id = excluded.product_id, data = excluded.data",
                (
                    (d["id"], self.project, d["source_id"], d["product_id"], _dumps(d))
                    for d in self.dirty.values()
                ),
            )
        else:
            self.conn.executemany(
                f"INSERT INTO {self.table} (id, project, source_id, data) VALUES (?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET source_id = excluded.source_id, data = excluded.data",
                ((d["id"], self.project, d["source_id"], _dumps(d)) for d in self.dirty.values()),
            )


def _changed(doc: Doc, updates: Doc) -> bool:
    return any(doc.get(key) != value for key, value in updates.items())


class ChunkImporter:
    """Imports one chunk of orders into one project, inside the caller's transaction."""

    def __init__(self, conn: sqlite3.Connection, project: str, now: str) -> None:
        self.conn, self.project, self.now = conn, project, now
        self.customers = _Catalog(conn, "customers", project)
        self.products = _Catalog(conn, "products", project)
        self.skus = _Catalog(conn, "skus", project)
        self.order_by_id: dict[str, tuple[str | None, str]] = {}  # id -> (source_id, created_at)
        self.order_by_source: dict[str, tuple[str, str]] = {}  # source_id -> (id, created_at)
        self.order_rows: dict[str, tuple[Any, ...]] = {}

    def run(self, orders: list[Doc]) -> tuple[int, list[Doc]]:
        """Returns the number of orders stored and a ``{"source_id", "reason"}`` entry per failed one."""
        self._load(orders)
        done, failed = 0, []
        for order in orders:
            reason = self._missing_reference(order) or self._store(order)
            if reason is None:
                done += 1
            else:
                failed.append({"source_id": order.get("source_id"), "reason": reason})
        for catalog in (self.customers, self.products, self.skus):
            catalog.write()
        self.conn.executemany(
            "INSERT INTO orders (id, project, source_id, customer_id, amount, data) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(id) DO UPDATE SET source_id = excluded.source_id,"
            " customer_id = excluded.customer_id, amount = excluded.amount, data = excluded.data",
            self.order_rows.values(),
        )
        return done, failed

    def _load(self, orders: list[Doc]) -> None:
        keys: dict[str, set[str]] = {
            name: set()
            for name in ("cust", "cust_src", "prod", "prod_src", "sku", "sku_src", "ord", "ord_src")
        }
        for order in orders:
            for party in (order.get("customer"), order.get("referrer")):
                if party:
                    if party.get("id"):
                        keys["cust"].add(party["id"])
                    elif party.get("source_id") is not None:
                        keys["cust_src"].add(party["source_id"])
            for key in ("customer_id", "referrer_id"):
                if order.get(key):
                    keys["cust"].add(order[key])
            if order.get("id"):
                keys["ord"].add(order["id"])
            if order.get("source_id") is not None:
                keys["ord_src"].add(order["source_id"])
            for item in order.get("items") or ():
                related = item.get("related_object")
                for kind, id_key in (("prod", "product_id"), ("sku", "sku_id")):
                    inline = item.get("product" if kind == "prod" else "sku")
                    if item.get(id_key):
                        keys[kind].add(item[id_key])
                    if inline and inline.get("id"):
                        keys[kind].add(inline["id"])
                    if inline and inline.get("source_id") is not None:
                        keys[kind + "_src"].add(inline["source_id"])
                    elif (
                        related == ("product" if kind == "prod" else "sku")
                        and item.get("source_id") is not None
                    ):
                        keys[kind + "_src"].add(item["source_id"])
        self.customers.load(keys["cust"], keys["cust_src"])
        self.products.load(keys["prod"], keys["prod_src"])
        self.skus.load(keys["sku"], keys["sku_src"])
        for column, wanted in (("id", keys["ord"]), ("source_id", keys["ord_src"])):
            for part in _parts(list(wanted)):
                query = (
                    "SELECT id, source_id, json_extract(data, '$.created_at') FROM orders"
                    f" WHERE project = ? AND {column} IN ({','.join('?' * len(part))})"
                )
                for order_id, source_id, created in self.conn.execute(query, (self.project, *part)):
                    self.order_by_id[order_id] = (source_id, created)
                    if source_id is not None:
                        self.order_by_source[source_id] = (order_id, created)

    def _missing_reference(self, order: Doc) -> str | None:
        """Voucherify ids that must already exist; the first one missing fails the order."""
        for party in (order.get("customer"), order.get("referrer")):
            if party and party.get("id") and party["id"] not in self.customers.by_id:
                return f"Cannot find customer with id {party['id']}"
        for key in ("customer_id", "referrer_id"):
            if order.get(key) and order[key] not in self.customers.by_id:
                return f"Cannot find customer with id {order[key]}"
        if order.get("id") and order["id"] not in self.order_by_id:
            return f"Cannot find order with id {order['id']}"
        for item in order.get("items") or ():
            for kind, catalog in (("product", self.products), ("sku", self.skus)):
                wanted = item.get(f"{kind}_id")
                if wanted and wanted not in catalog.by_id:
                    return f"Cannot find {kind} with id {wanted}"
                inline = item.get(kind)
                if inline and inline.get("id") and inline["id"] not in catalog.by_id:
                    return f"Cannot find {kind} with id {inline['id']}"
        return None

    def _store(self, order: Doc) -> str | None:
        source_id = order.get("source_id")
        known = self.order_by_source.get(source_id) if source_id is not None else None
        if order.get("id"):
            if known is not None and known[0] != order["id"]:
                return f"Duplicate source_id {source_id}: it belongs to order {known[0]}"
            order_id, created = order["id"], self.order_by_id[order["id"]][1]
        elif known is not None:
            order_id, created = known
        else:
            order_id, created = alnum_id("ord"), ""
        customer_id = self._party(order["customer"]) if order.get("customer") else order.get("customer_id")
        referrer_id = self._party(order["referrer"]) if order.get("referrer") else order.get("referrer_id")
        items = [self._item(item) for item in order.get("items") or ()]
        doc: Doc = {
            "id": order_id,
            "source_id": source_id,
            "created_at": created or self.now,
            "updated_at": self.now if created else None,
            "status": order.get("status", "CREATED"),
        }
        for key in _ORDER_AMOUNTS:
            if key in order:
                doc[key] = order[key]
        if "amount" not in doc and items and all("amount" in item for item in items):
            doc["amount"] = sum(item["amount"] for item in items)
        doc["items"] = items
        doc["metadata"] = order.get("metadata", {})
        doc["customer_id"] = customer_id
        doc["referrer_id"] = referrer_id
        if customer_id:
            doc["customer"] = {"id": customer_id, "object": "customer"}
        if referrer_id:
            doc["referrer"] = {"id": referrer_id, "object": "customer"}
        doc["object"] = "order"
        self.order_by_id[order_id] = (source_id, doc["created_at"])
        if source_id is not None:
            self.order_by_source[source_id] = (order_id, doc["created_at"])
        self.order_rows[order_id] = (
            order_id,
            self.project,
            source_id,
            customer_id,
            doc.get("amount"),
            _dumps(doc),
        )
        return None

    def _party(self, party: Doc) -> str:
        """Create or update a customer (or referrer) named by id or source_id; returns its id."""
        source_id = party.get("source_id")
        if party.get("id"):
            doc: Doc | None = self.customers.by_id[party["id"]]
        else:
            doc = self.customers.by_source.get(source_id) if source_id is not None else None
        updates = {key: party[key] for key in _CUSTOMER_FIELDS if key in party}
        if doc is None:
            doc = {"id": alnum_id("cust"), "source_id": source_id, "metadata": {}, "system_metadata": {}}
            doc.update(updates, created_at=self.now, object="customer")
            self.customers.save(doc)
        elif _changed(doc, updates):
            self.customers.save({**doc, **updates, "updated_at": self.now})
        return str(doc["id"])

    def _item(self, item: Doc) -> Doc:
        out: Doc = {"object": "order_item"}
        for key in _ITEM_FIELDS:
            if key in item:
                out[key] = item[key]
        related = item.get("related_object")
        product = self._catalog_entry(item, "product", related, None)
        sku = self._catalog_entry(item, "sku", related, product)
        if product is not None:
            out["product_id"] = product["id"]
        if sku is not None:
            out["sku_id"] = sku["id"]
            out.setdefault("product_id", sku["product_id"])
        if "amount" not in out and "price" in out and "quantity" in out:
            out["amount"] = out["price"] * out["quantity"]
        for kind in ("product", "sku"):
            if kind in item:
                out[kind] = {key: value for key, value in item[kind].items() if key != "override"}
        if "metadata" in item:
            out["metadata"] = item["metadata"]
        return out

    def _catalog_entry(self, item: Doc, kind: str, related: str | None, product: Doc | None) -> Doc | None:
        """The product or SKU an item names; created or updated when its inline object says override."""
        catalog = self.products if kind == "product" else self.skus
        inline = item.get(kind) or {}
        wanted = item.get(f"{kind}_id") or inline.get("id")
        source_id = inline.get("source_id")
        if source_id is None and related == kind:
            source_id = item.get("source_id")
        if wanted:
            doc: Doc | None = catalog.by_id[wanted]
        else:
            doc = catalog.by_source.get(source_id) if source_id is not None else None
        if not inline.get("override"):
            return doc
        fields = ("name", "price", "metadata") if kind == "product" else ("sku", "price", "metadata")
        updates = {key: inline[key] for key in fields if key in inline}
        if doc is None:
            # Nothing to key a new record on (or no parent product for a SKU): the item stays a reference.
            if source_id is None or (kind == "sku" and product is None):
                return None
            if kind == "product":
                doc = {
                    "id": hex_id("prod"),
                    "source_id": source_id,
                    "name": None,
                    "price": None,
                    "attributes": [],
                    "metadata": {},
                    "image_url": None,
                }
            else:
                assert product is not None
                doc = {
                    "id": hex_id("sku"),
                    "source_id": source_id,
                    "product_id": product["id"],
                    "sku": None,
                    "price": None,
                    "currency": None,
                    "attributes": {},
                    "image_url": None,
                    "metadata": {},
                }
            doc.update(updates, created_at=self.now, updated_at=None, object=kind)
            catalog.save(doc)
        elif _changed(doc, updates):
            doc = {**doc, **updates, "updated_at": self.now}
            catalog.save(doc)
        return doc
