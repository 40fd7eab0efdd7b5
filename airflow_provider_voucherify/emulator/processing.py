"""Applying a chunk of imported orders: reference checks, upserts, and failures of single orders.

Speed matters (the emulator must outrun any client), so a chunk costs a few bulk reads and one
``executemany`` per table, and an order is stored as the JSON it arrived in plus the columns the
import decides (id, dates, customer); ``documents.py`` renders it as the API's order object on reads.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from airflow_provider_voucherify.emulator.bodies import read_lines
from airflow_provider_voucherify.emulator.ids import alnum_id, hex_id
from airflow_provider_voucherify.emulator.schemas import refusal, stringify_undefined

Doc = dict[str, Any]

_CUSTOMER_FIELDS = ("name", "description", "email", "phone", "birthdate", "birthday", "address", "metadata")
_CATALOG_FIELDS = {"product": ("name", "price", "metadata"), "sku": ("sku", "price", "metadata")}
_KINDS = (("product", "product_id"), ("sku", "sku_id"))
_CATALOG_KEYS = frozenset(("product", "sku", "product_id", "sku_id"))
_BATCH = 500  # bound on SQL parameters per IN (...) query
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _parts(keys: Iterable[str]) -> Iterator[list[str]]:
    keys = list(keys)
    for start in range(0, len(keys), _BATCH):
        yield keys[start : start + _BATCH]


def items_amount(items: list[Doc]) -> int | None:
    """The order amount the API derives from its items: each ``amount``, or ``price * quantity``."""
    total = 0
    for item in items:
        amount = item.get("amount")
        if amount is None:
            price, quantity = item.get("price"), item.get("quantity")
            if price is None or quantity is None:
                return None
            amount = price * quantity
        total += amount
    return total


class _Catalog:
    """The rows of one table a chunk refers to, by id and by source_id; changed rows are written back."""

    def __init__(self, conn: sqlite3.Connection, table: str, project: str) -> None:
        self.conn, self.table, self.project = conn, table, project
        self.by_id: dict[str, Doc] = {}
        self.by_source: dict[str, Doc] = {}
        self.dirty: dict[str, Doc] = {}

    def load(self, ids: set[str], source_ids: set[str]) -> None:
        for column, keys in (("id", ids), ("source_id", source_ids)):
            for part in _parts(keys):
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
        if not self.dirty:
            return
        if self.table == "skus":
            self.conn.executemany(
                "INSERT INTO skus (id, project, source_id, product_id, data) VALUES (?,?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET source_id = excluded.source_id,"
                " product_id = excluded.product_id, data = excluded.data",
                (
                    (d["id"], self.project, d["source_id"], d["product_id"], _encode(d))
                    for d in self.dirty.values()
                ),
            )
        else:
            self.conn.executemany(
                f"INSERT INTO {self.table} (id, project, source_id, data) VALUES (?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET source_id = excluded.source_id, data = excluded.data",
                ((d["id"], self.project, d["source_id"], _encode(d)) for d in self.dirty.values()),
            )


def _changed(doc: Doc, updates: Doc) -> bool:
    return any(doc.get(key) != value for key, value in updates.items())


def _inline_source(item: Doc, kind: str, inline: Doc) -> str | None:
    """The source_id an item's inline product or SKU is keyed on (the item's own for its related kind)."""
    source_id = inline.get("source_id")
    if source_id is None and item.get("related_object") == kind:
        source_id = item.get("source_id")
    return source_id


class ChunkImporter:
    """Imports a chunk of orders (one JSON document each) into one project, in the caller's transaction."""

    def __init__(
        self, conn: sqlite3.Connection, project: str, now: str, schemas: dict[str, Doc] | None = None
    ) -> None:
        self.conn, self.project, self.now = conn, project, now
        self.schemas = schemas or {}  # metadata schemas by resource, enforced per order
        self.customers = _Catalog(conn, "customers", project)
        self.products = _Catalog(conn, "products", project)
        self.skus = _Catalog(conn, "skus", project)
        self.order_by_id: dict[str, tuple[str | None, str]] = {}  # id -> (source_id, created_at)
        self.order_by_source: dict[str, tuple[str, str]] = {}  # source_id -> (id, created_at)
        self.order_rows: dict[str, tuple[Any, ...]] = {}

    def run(self, lines: list[str]) -> tuple[int, list[Doc]]:
        """Returns the number of orders stored and a ``{"source_id", "reason"}`` entry per failed one."""
        orders = read_lines(lines)
        checks = self._load(orders)
        done, failed = 0, []
        for order, line, check in zip(orders, lines, checks, strict=True):
            reason = self.schemas and refusal(order, self.schemas)
            if reason:
                failed.append({"source_id": order.get("source_id"), "reason": reason})
                continue
            if self.schemas and stringify_undefined(order, self.schemas):
                line = _encode(order)
            reason = (check and self._missing_reference(order)) or self._store(order, line, check)
            if reason is None:
                done += 1
            else:
                failed.append({"source_id": order.get("source_id"), "reason": reason})
        for catalog in (self.customers, self.products, self.skus):
            catalog.write()
        self.conn.executemany(
            "INSERT INTO orders (id, project, source_id, customer_id, referrer_id, amount, created_at,"
            " updated_at, data) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
            " source_id = excluded.source_id, customer_id = excluded.customer_id,"
            " referrer_id = excluded.referrer_id, amount = excluded.amount,"
            " updated_at = excluded.updated_at, data = excluded.data",
            self.order_rows.values(),
        )
        return done, failed

    def _load(self, orders: list[Doc]) -> list[bool]:
        """Bulk-read what the chunk refers to; per order, whether it names Voucherify ids or catalog data."""
        cust_ids: set[str] = set()
        cust_sources: set[str] = set()
        order_ids: set[str] = set()
        order_sources: set[str] = set()
        keys = {"product": (set[str](), set[str]()), "sku": (set[str](), set[str]())}
        checks = []
        for order in orders:
            get = order.get
            check = False
            for party in (get("customer"), get("referrer")):
                if party:
                    if party.get("id"):
                        cust_ids.add(party["id"])
                        check = True
                    elif party.get("source_id") is not None:
                        cust_sources.add(party["source_id"])
            for key in ("customer_id", "referrer_id", "id"):
                if get(key):
                    (order_ids if key == "id" else cust_ids).add(order[key])
                    check = True
            if get("source_id") is not None:
                order_sources.add(order["source_id"])
            for item in get("items") or ():
                if _CATALOG_KEYS.isdisjoint(item):
                    continue  # the common case: an item named only by source_id
                check = True
                for kind, id_key in _KINDS:
                    ids, sources = keys[kind]
                    if item.get(id_key):
                        ids.add(item[id_key])
                    inline = item.get(kind)
                    if inline:
                        if inline.get("id"):
                            ids.add(inline["id"])
                        elif (source_id := _inline_source(item, kind, inline)) is not None:
                            sources.add(source_id)
            checks.append(check)
        self.customers.load(cust_ids, cust_sources)
        self.products.load(*keys["product"])
        self.skus.load(*keys["sku"])
        for column, wanted in (("id", order_ids), ("source_id", order_sources)):
            for part in _parts(wanted):
                query = (
                    "SELECT id, source_id, created_at FROM orders"
                    f" WHERE project = ? AND {column} IN ({','.join('?' * len(part))})"
                )
                for order_id, source_id, created in self.conn.execute(query, (self.project, *part)):
                    self.order_by_id[order_id] = (source_id, created)
                    if source_id is not None:
                        self.order_by_source[source_id] = (order_id, created)
        return checks

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
            for kind, id_key in _KINDS:
                catalog = self.products if kind == "product" else self.skus
                wanted = item.get(id_key)
                if wanted and wanted not in catalog.by_id:
                    return f"Cannot find {kind} with id {wanted}"
                inline = item.get(kind)
                if inline and inline.get("id") and inline["id"] not in catalog.by_id:
                    return f"Cannot find {kind} with id {inline['id']}"
        return None

    def _store(self, order: Doc, line: str, has_catalog_data: bool) -> str | None:
        source_id = order.get("source_id")
        known = self.order_by_source.get(source_id) if source_id is not None else None
        created: str | None = None
        if order.get("id"):
            if known is not None and known[0] != order["id"]:
                return f"Duplicate source_id {source_id}: it belongs to order {known[0]}"
            order_id, created = order["id"], self.order_by_id[order["id"]][1]
        elif known is not None:
            order_id, created = known
        else:
            order_id = alnum_id("ord")
        customer = order.get("customer")
        customer_id = self._party(customer) if customer else order.get("customer_id")
        referrer = order.get("referrer")
        referrer_id = self._party(referrer) if referrer else order.get("referrer_id")
        amount = order.get("amount")
        items = order.get("items")
        if items:
            if has_catalog_data:
                for item in items:
                    if "product" in item or "sku" in item:
                        self._catalog_entries(item)
            if amount is None:
                amount = items_amount(items)
        created_at = created or self.now
        self.order_by_id[order_id] = (source_id, created_at)
        if source_id is not None:
            self.order_by_source[source_id] = (order_id, created_at)
        self.order_rows[order_id] = (
            order_id, self.project, source_id, customer_id, referrer_id, amount,
            created_at, self.now if created else None, line,
        )  # fmt: skip
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
        elif updates and _changed(doc, updates):
            self.customers.save({**doc, **updates, "updated_at": self.now})
        return str(doc["id"])

    def _catalog_entries(self, item: Doc) -> None:
        """Create or update the product and SKU an item carries inline with ``override: true``."""
        product = None
        inline = item.get("product")
        if inline:
            product = self._catalog_entry(item, "product", inline, None)
        elif item.get("product_id"):
            product = self.products.by_id[item["product_id"]]
        inline = item.get("sku")
        if inline:
            self._catalog_entry(item, "sku", inline, product)

    def _catalog_entry(self, item: Doc, kind: str, inline: Doc, product: Doc | None) -> Doc | None:
        catalog = self.products if kind == "product" else self.skus
        source_id = _inline_source(item, kind, inline)
        if inline.get("id"):
            doc: Doc | None = catalog.by_id[inline["id"]]
        else:
            doc = catalog.by_source.get(source_id) if source_id is not None else None
        if not inline.get("override"):
            return doc
        updates = {key: inline[key] for key in _CATALOG_FIELDS[kind] if key in inline}
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
                }
            else:
                assert product is not None
                doc = {"id": hex_id("sku"), "source_id": source_id, "product_id": product["id"], "sku": None}
                doc.update(price=None, currency=None, attributes={})
            doc.update(image_url=None, metadata={})
            doc.update(updates, created_at=self.now, updated_at=None, object=kind)
            catalog.save(doc)
        elif _changed(doc, updates):
            doc = {**doc, **updates, "updated_at": self.now}
            catalog.save(doc)
        return doc
