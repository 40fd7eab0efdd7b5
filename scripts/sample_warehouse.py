"""A deterministic sample warehouse of historical orders, in SQLite (or any DB-API connection).

    python -m scripts.sample_warehouse PATH.db [--months 3] [--orders-per-month 200] [--seed 7]

Tables (the example DAG's query joins them): ``customers``, ``products``, ``skus``, ``orders``
(status in the shop's own words: pending, paid, fulfilled, cancelled; totals in currency units;
``placed_at`` in UTC) and ``order_lines``. The same seed always gives the same rows.

Each month holds exactly one **bad order**, on purpose, to show the import's rejects file at work:
odd months (January, March...) an order line with quantity 0, even months a refund booked as an
order with a negative total. Both are refused by validation before anything is sent; their
``source_id`` is listed in the table ``known_bad_orders``.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

DEFAULT_START = date(2024, 1, 1)
STATUSES = (("fulfilled", 60), ("paid", 20), ("pending", 10), ("cancelled", 10))
FIRST_NAMES = (
    "Ada",
    "Bram",
    "Chloe",
    "Dev",
    "Elif",
    "Femi",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kaya",
    "Luis",
)
LAST_NAMES = ("Novak", "Okafor", "Silva", "Tanaka", "Moreau", "Kowalski", "Haddad", "Berg", "Rossi", "Kim")
CITIES = (
    ("Warsaw", "PL"),
    ("Lisbon", "PT"),
    ("Austin", "US"),
    ("Osaka", "JP"),
    ("Lyon", "FR"),
    ("Oslo", "NO"),
)
PRODUCTS = (
    ("Trail shoe", "54.90", ("38", "40", "42", "44")),
    ("Rain jacket", "129.00", ("S", "M", "L")),
    ("Merino socks", "14.50", ("S", "M", "L")),
    ("Water bottle", "19.99", ("500ML", "1L")),
    ("Headlamp", "39.95", ("STD",)),
    ("Daypack", "74.00", ("20L", "28L")),
    ("Gaiters", "24.90", ("ONE",)),
    ("Trekking poles", "89.00", ("PAIR",)),
)

TABLES = ("customers", "products", "skus", "orders", "order_lines", "known_bad_orders")
SCHEMA = (
    """CREATE TABLE customers (
        customer_id INTEGER PRIMARY KEY, source_id VARCHAR(32) NOT NULL UNIQUE,
        first_name VARCHAR(64), last_name VARCHAR(64), email VARCHAR(128), phone VARCHAR(32),
        city VARCHAR(64), country CHAR(2))""",
    """CREATE TABLE products (
        product_id INTEGER PRIMARY KEY, source_id VARCHAR(32) NOT NULL UNIQUE,
        name VARCHAR(128) NOT NULL, list_price NUMERIC(12, 2) NOT NULL)""",
    """CREATE TABLE skus (
        sku_id INTEGER PRIMARY KEY, source_id VARCHAR(32) NOT NULL UNIQUE,
        product_id INTEGER NOT NULL REFERENCES products (product_id),
        code VARCHAR(64) NOT NULL, list_price NUMERIC(12, 2) NOT NULL)""",
    """CREATE TABLE orders (
        order_id INTEGER PRIMARY KEY, source_id VARCHAR(32) NOT NULL UNIQUE,
        customer_id INTEGER REFERENCES customers (customer_id),
        referrer_id INTEGER REFERENCES customers (customer_id),
        status VARCHAR(16) NOT NULL, total NUMERIC(12, 2) NOT NULL, currency CHAR(3) NOT NULL,
        placed_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE order_lines (
        order_id INTEGER NOT NULL REFERENCES orders (order_id), line_no INTEGER NOT NULL,
        sku_id INTEGER NOT NULL REFERENCES skus (sku_id), quantity INTEGER NOT NULL,
        unit_price NUMERIC(12, 2) NOT NULL, PRIMARY KEY (order_id, line_no))""",
    """CREATE TABLE known_bad_orders (source_id VARCHAR(32) PRIMARY KEY, reason VARCHAR(128) NOT NULL)""",
    "CREATE INDEX orders_by_placed_at ON orders (placed_at)",
)


@dataclass
class Month:
    """What one month of the warehouse holds (for tests and the demo's summary)."""

    start: date
    orders: int = 0
    bad_source_ids: list[str] = field(default_factory=list)

    @property
    def good(self) -> int:
        return self.orders - len(self.bad_source_ids)


@dataclass
class Warehouse:
    months: list[Month]

    @property
    def orders(self) -> int:
        return sum(month.orders for month in self.months)

    @property
    def bad_orders(self) -> int:
        return sum(len(month.bad_source_ids) for month in self.months)


def month_starts(start: date, months: int) -> list[date]:
    starts, current = [], start.replace(day=1)
    for _ in range(months):
        starts.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return starts


def _money(cents: int) -> str:
    return str(Decimal(cents) / 100)


class _Generator:
    def __init__(self, seed: int, customers: int) -> None:
        self.rng = random.Random(seed)
        self.rows: dict[str, list[tuple[Any, ...]]] = {
            name: []
            for name in ("customers", "products", "skus", "orders", "order_lines", "known_bad_orders")
        }
        self.sku_prices: list[tuple[int, int]] = []  # (sku_id, price in cents)
        for number in range(1, customers + 1):
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            city, country = self.rng.choice(CITIES)
            self.rows["customers"].append(
                (
                    number,
                    f"CUST-{number:05d}",
                    first,
                    last,
                    f"{first}.{last}.{number}@example.com".lower(),
                    f"+1-555-{number % 10_000:04d}",
                    city,
                    country,
                )
            )
        sku_id = 0
        for product_id, (name, price, variants) in enumerate(PRODUCTS, start=1):
            self.rows["products"].append((product_id, f"PROD-{product_id:03d}", name, price))
            cents = int(Decimal(price) * 100)
            for variant in variants:
                sku_id += 1
                self.rows["skus"].append(
                    (sku_id, f"SKU-{product_id:03d}-{variant}", product_id, variant, price)
                )
                self.sku_prices.append((sku_id, cents))
        self.customers = customers
        self.order_id = 0

    def month(self, start: date, count: int, bad_kind: str) -> Month:
        month = Month(start)
        end = (start + timedelta(days=32)).replace(day=1)
        seconds = int((end - start).total_seconds())
        bad_at = self.rng.randrange(count)
        statuses, weights = zip(*STATUSES, strict=True)
        for position in range(count):
            self.order_id += 1
            source_id = f"ORD-{start:%Y%m}-{position + 1:05d}"
            placed = datetime(start.year, start.month, 1) + timedelta(seconds=self.rng.randrange(seconds))
            customer = self.rng.randint(1, self.customers)
            referrer = self.rng.randint(1, self.customers) if self.rng.random() < 0.15 else None
            if referrer == customer:
                referrer = None
            lines = []
            for line_no in range(1, self.rng.choice((1, 1, 2, 2, 3, 4)) + 1):
                sku_id, cents = self.rng.choice(self.sku_prices)
                lines.append([self.order_id, line_no, sku_id, self.rng.choice((1, 1, 1, 2, 3)), cents])
            total = sum(quantity * cents for *_, quantity, cents in lines)
            if position == bad_at:
                month.bad_source_ids.append(source_id)
                if bad_kind == "zero_quantity":
                    lines[0][3] = 0
                    total = sum(quantity * cents for *_, quantity, cents in lines)
                    reason = "an order line with quantity 0"
                else:
                    total = -total
                    reason = "a refund booked as an order with a negative total"
                self.rows["known_bad_orders"].append((source_id, reason))
            status = self.rng.choices(statuses, weights)[0]
            self.rows["orders"].append(
                (
                    self.order_id,
                    source_id,
                    customer,
                    referrer,
                    status,
                    _money(total),
                    "USD",
                    placed.strftime("%Y-%m-%d %H:%M:%S"),
                )
            )
            for order_id, line_no, sku_id, quantity, cents in lines:
                self.rows["order_lines"].append((order_id, line_no, sku_id, quantity, _money(cents)))
            month.orders += 1
        return month


def generate(
    *, months: int = 3, orders_per_month: int = 200, seed: int = 7, start: date = DEFAULT_START
) -> tuple[Warehouse, dict[str, list[tuple[Any, ...]]]]:
    """The warehouse's rows by table, and what each month holds."""
    if orders_per_month < 1:
        raise ValueError("orders_per_month must be at least 1")
    generator = _Generator(seed, customers=max(20, orders_per_month // 2))
    summary = Warehouse(
        [
            generator.month(first_day, orders_per_month, "zero_quantity" if index % 2 == 0 else "refund")
            for index, first_day in enumerate(month_starts(start, months))
        ]
    )
    return summary, generator.rows


def load(connect: Callable[[], Any], placeholder: str, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """Create the tables and insert ``rows`` through any DB-API connection (SQLite, PostgreSQL...)."""
    conn = connect()
    try:
        cursor = conn.cursor()
        for statement in SCHEMA:
            cursor.execute(statement)
        for table, values in rows.items():
            if values:
                marks = ", ".join([placeholder] * len(values[0]))
                cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
        conn.commit()
    finally:
        conn.close()


def build_sqlite(path: Path, **options: Any) -> Warehouse:
    """Write a fresh SQLite warehouse at ``path`` (replacing any file there)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    summary, rows = generate(**options)
    load(lambda: sqlite3.connect(path), "?", rows)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="SQLite file to (re)create")
    parser.add_argument("--months", type=int, default=3, help="months of orders, from January 2024")
    parser.add_argument("--orders-per-month", type=int, default=200, help="orders in each month")
    parser.add_argument("--seed", type=int, default=7, help="same seed, same warehouse")
    args = parser.parse_args(argv)
    summary = build_sqlite(
        args.path, months=args.months, orders_per_month=args.orders_per_month, seed=args.seed
    )
    for month in summary.months:
        print(
            f"{month.start:%Y-%m}: {month.orders} orders, bad on purpose: {', '.join(month.bad_source_ids)}"
        )
    print(f"{summary.orders} orders in {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
