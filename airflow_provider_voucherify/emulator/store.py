"""SQLite storage (WAL): the import queue, the imported resources and persisted request counts."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow_provider_voucherify.emulator.documents import ORDER_COLUMNS, render_orders
from airflow_provider_voucherify.emulator.ids import iso_ms, now_ms

ENQUEUED, IN_PROGRESS, DONE, FAILED = "ENQUEUED", "IN_PROGRESS", "DONE", "FAILED"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS imports (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL,
    status TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    started_ms INTEGER,
    finished_ms INTEGER,
    request_id TEXT NOT NULL,
    order_count INTEGER NOT NULL,
    processed INTEGER NOT NULL DEFAULT 0,
    done_count INTEGER NOT NULL DEFAULT 0,
    failed TEXT NOT NULL DEFAULT '[]',
    fail_whole INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    body_hash TEXT NOT NULL,
    payload BLOB NOT NULL,
    type TEXT NOT NULL DEFAULT 'ORDERS.IMPORT'
);
CREATE INDEX IF NOT EXISTS imports_by_project ON imports(project, created_ms);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, source_id TEXT, customer_id TEXT, referrer_id TEXT,
    amount INTEGER, created_at TEXT NOT NULL, updated_at TEXT, data TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS orders_by_source ON orders(project, source_id);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders(customer_id);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, source_id TEXT, data TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS customers_by_source ON customers(project, source_id);
CREATE TABLE IF NOT EXISTS products (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, source_id TEXT, data TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS products_by_source ON products(project, source_id);
CREATE TABLE IF NOT EXISTS skus (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, source_id TEXT, product_id TEXT, data TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS skus_by_source ON skus(project, source_id);
CREATE INDEX IF NOT EXISTS skus_by_product ON skus(product_id);
CREATE TABLE IF NOT EXISTS received_source_ids (
    project TEXT NOT NULL, source_id TEXT NOT NULL, PRIMARY KEY (project, source_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS exports (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, created_ms INTEGER NOT NULL, start_ms INTEGER NOT NULL,
    done_ms INTEGER, final_status TEXT NOT NULL, token TEXT NOT NULL, request TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS request_counts (
    route TEXT NOT NULL, status TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (route, status)
) WITHOUT ROWID;
"""
_TABLES = (
    "imports", "orders", "customers", "products", "skus", "received_source_ids", "exports", "request_counts",
)  # fmt: skip
_ACTION_COLUMNS = (
    "id, status, created_ms, updated_ms, started_ms, finished_ms, request_id, order_count, processed, type"
)
ORDERS_IMPORT = "ORDERS.IMPORT"
_ORDERS = f"type = '{ORDERS_IMPORT}'"  # counters about orders leave other kinds of actions out


def connect(path: Path, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """A connection in autocommit mode; callers open explicit transactions with :func:`transaction`."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def action_body(row: tuple[Any, ...], result: str | None = None) -> dict[str, Any]:
    """An async action as the API shows it; ``result`` only when the caller passes one."""
    action_id, status, created, updated, started, finished, request_id, count, processed, kind = row
    if status in (DONE, FAILED):
        progress, processing_time = 100, (finished or updated) - (started or created)
    elif status == IN_PROGRESS:
        progress, processing_time = min(99, processed * 100 // max(count, 1)), now_ms() - started
    else:
        progress, processing_time = 0, 0
    body: dict[str, Any] = {"id": action_id, "type": kind, "status": status}
    if result is not None:
        body["result"] = json.loads(result)
    body.update(
        created_at=iso_ms(created),
        updated_at=iso_ms(updated),
        request_id=request_id,
        progress=progress,
        processing_time=max(0, processing_time),
        object="async_action",
    )
    return body


class Store:
    """The API side of the database. Workers open their own connections (see ``worker.py``).

    ``lock`` is held by a worker while it writes one chunk and by :meth:`reset`, and ``generation``
    changes on every reset, so a worker never writes a wiped import's orders back.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.generation = 0
        self.processing_cpu_seconds = 0.0  # written by workers under ``lock``
        # Accepting an import must survive a power cut, not only a crash: fsync on every commit here.
        self.conn = connect(path, synchronous="FULL")
        self.conn.executescript(_SCHEMA)
        if "type" not in {column[1] for column in self.conn.execute("PRAGMA table_info(imports)")}:
            # A database written before async actions had kinds: every action in it is an import.
            self.conn.execute("ALTER TABLE imports ADD COLUMN type TEXT NOT NULL DEFAULT 'ORDERS.IMPORT'")

    def close(self) -> None:
        self.conn.close()

    # ---- imports and async actions
    def accept_import(
        self,
        project: str,
        action_id: str,
        request_id: str,
        payload: bytes,
        order_count: int,
        body_hash: str,
        source_ids: Iterable[str],
        fail_whole: bool,
        kind: str = ORDERS_IMPORT,
    ) -> None:
        with transaction(self.conn) as conn:
            (last,) = conn.execute(
                "SELECT max(created_ms) FROM imports WHERE project = ?", (project,)
            ).fetchone()
            # Creation times strictly increase per project, so the end_date cursor never skips a sibling.
            created = max(now_ms(), (last or 0) + 1)
            conn.execute(
                "INSERT INTO imports (id, project, status, created_ms, updated_ms, request_id,"
                " order_count, fail_whole, body_hash, payload, type) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    action_id,
                    project,
                    ENQUEUED,
                    created,
                    created,
                    request_id,
                    order_count,
                    int(fail_whole),
                    body_hash,
                    payload,
                    kind,
                ),
            )
            # One statement for the whole batch: executemany releases the GIL at every row, and the
            # import worker thread of this process, when busy, keeps it for up to 5 ms each time
            # (2000 rows next to a CPU-bound thread: 28 ms to 0.75 s by the machine's load; this, 17 ms).
            conn.execute(
                "INSERT OR IGNORE INTO received_source_ids SELECT ?, value FROM json_each(?)",
                (project, json.dumps(list(source_ids))),
            )

    def get_action(self, project: str, action_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            f"SELECT {_ACTION_COLUMNS}, result FROM imports WHERE project = ? AND id = ?",
            (project, action_id),
        ).fetchone()
        return None if row is None else action_body(row[:-1], row[-1])

    def list_actions(self, project: str, limit: int, before_us: int | None) -> tuple[list[Any], bool]:
        """Newest first, created strictly before ``before_us`` (epoch microseconds) when given."""
        where = "project = ?"
        params: list[Any] = [project]
        if before_us is not None:
            where += " AND created_ms * 1000 < ?"
            params.append(before_us)
        rows = self.conn.execute(
            f"SELECT {_ACTION_COLUMNS} FROM imports WHERE {where} ORDER BY created_ms DESC, seq DESC LIMIT ?",
            (*params, limit + 1),
        ).fetchall()
        return [action_body(row) for row in rows[:limit]], len(rows) > limit

    # ---- imported resources
    def get_order(self, project: str, key: str) -> dict[str, Any] | None:
        # Like the API, a path accepts either the Voucherify id or the merchant's source_id.
        for column in ("id", "source_id"):
            rows = self.conn.execute(
                f"SELECT {ORDER_COLUMNS} FROM orders WHERE project = ? AND {column} = ?", (project, key)
            ).fetchall()
            if rows:
                return render_orders(self.conn, project, rows)[0]
        return None

    def list_orders(self, project: str, limit: int, page: int) -> tuple[list[dict[str, Any]], int]:
        """Oldest first, as the API lists orders by default."""
        (total,) = self.conn.execute("SELECT count(*) FROM orders WHERE project = ?", (project,)).fetchone()
        rows = self.conn.execute(
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE project = ? ORDER BY rowid LIMIT ? OFFSET ?",
            (project, limit, (page - 1) * limit),
        ).fetchall()
        return render_orders(self.conn, project, rows), total

    def get_customer(self, project: str, key: str) -> dict[str, Any] | None:
        data = self._get_data("customers", project, key)
        if data is None:
            return None
        customer: dict[str, Any] = json.loads(data)
        # Only PAID and FULFILLED orders count in the summary (an order imported without a status
        # is CREATED, so it counts nowhere): the API's rule, which the provider's docs explain.
        counted = "customer_id = ?1 AND json_extract(data, '$.status') IN ('PAID', 'FULFILLED')"
        count, total, last_amount, last_date = self.conn.execute(
            "SELECT count(*), coalesce(sum(amount), 0),"
            f" (SELECT amount FROM orders WHERE {counted} ORDER BY created_at DESC, rowid DESC LIMIT 1),"
            f" (SELECT max(created_at) FROM orders WHERE {counted})"
            f" FROM orders WHERE {counted}",
            (customer["id"],),
        ).fetchone()
        customer["summary"] = {
            "redemptions": {
                "total_redeemed": 0,
                "total_failed": 0,
                "total_succeeded": 0,
                "total_rolled_back": 0,
                "total_rollback_failed": 0,
                "total_rollback_succeeded": 0,
                "gift": {"redeemed_amount": 0, "amount_to_go": 0},
                "loyalty_card": {"redeemed_points": 0, "points_to_go": 0},
            },
            "orders": {
                "total_amount": total,
                "total_count": count,
                "average_amount": total // count if count else 0,
                "last_order_amount": last_amount or 0,
                **({"last_order_date": last_date} if last_date else {}),
            },
        }
        customer["loyalty"] = {"points": 0, "referred_customers": 0, "campaigns": {}}
        customer["referrals"] = {"total": 0, "campaigns": []}
        return customer

    def get_product(self, project: str, key: str) -> dict[str, Any] | None:
        data = self._get_data("products", project, key)
        if data is None:
            return None
        product: dict[str, Any] = json.loads(data)
        skus = [
            json.loads(row[0])
            for row in self.conn.execute(
                "SELECT data FROM skus WHERE product_id = ? ORDER BY rowid", (product["id"],)
            )
        ]
        product["skus"] = {"object": "list", "data_ref": "data", "data": skus, "total": len(skus)}
        return product

    def get_sku(self, project: str, key: str) -> dict[str, Any] | None:
        data = self._get_data("skus", project, key)
        return None if data is None else dict(json.loads(data))

    def _get_data(self, table: str, project: str, key: str) -> str | None:
        # Like the API, a path accepts either the Voucherify id or the merchant's source_id.
        for column in ("id", "source_id"):
            row = self.conn.execute(
                f"SELECT data FROM {table} WHERE project = ? AND {column} = ?", (project, key)
            ).fetchone()
            if row is not None:
                return str(row[0])
        return None

    # ---- test support
    def reset(self) -> None:
        """Wipe everything; a worker mid-import notices the new generation and abandons it."""
        with self.lock:
            self.generation += 1
            self.processing_cpu_seconds = 0.0
            with transaction(self.conn) as conn:
                for table in _TABLES:
                    conn.execute(f"DELETE FROM {table}")

    def counts(self) -> dict[str, dict[str, int]]:
        """Per project: imports accepted, orders received and stored, distinct source ids, duplicates."""
        figures: dict[str, dict[str, int]] = {}
        queries = {
            "imports_accepted": f"SELECT project, count(*) FROM imports WHERE {_ORDERS} GROUP BY project",
            "orders_received": (
                f"SELECT project, sum(order_count) FROM imports WHERE {_ORDERS} GROUP BY project"
            ),
            "distinct_source_ids_received": (
                "SELECT project, count(*) FROM received_source_ids GROUP BY project"
            ),
            "orders_stored": "SELECT project, count(*) FROM orders GROUP BY project",
            "duplicate_payloads": (
                "SELECT project, count(*) - count(DISTINCT body_hash) FROM imports"
                f" WHERE {_ORDERS} GROUP BY project"
            ),
        }
        for name, query in queries.items():
            for project, value in self.conn.execute(query):
                figures.setdefault(project, dict.fromkeys(queries, 0))[name] = int(value or 0)
        return figures

    def load_request_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for route, status, count in self.conn.execute("SELECT route, status, count FROM request_counts"):
            counts.setdefault(route, {})[status] = count
        return counts

    def save_request_counts(self, counts: dict[str, dict[str, int]]) -> None:
        with transaction(self.conn) as conn:
            conn.execute("DELETE FROM request_counts")
            conn.executemany(
                "INSERT INTO request_counts VALUES (?, ?, ?)",
                (
                    (route, status, n)
                    for route, by_status in counts.items()
                    for status, n in by_status.items()
                ),
            )
