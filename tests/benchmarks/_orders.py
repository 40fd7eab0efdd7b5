"""Generated orders shaped like a warehouse backfill, written once as JSON Lines (plain or gzip).

Each order has a customer by ``source_id``, 1 to 4 items naming a product and a SKU by
``source_id`` with integer prices, and its real creation date in metadata, as the API asks of
historical orders. The same seed gives the same file, so runs compare like with like.
"""

from __future__ import annotations

import gzip
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

PRODUCTS = 500
SKUS_PER_PRODUCT = 4
CUSTOMERS_PER_ORDER = 3  # about one customer per three orders: repeat buyers
FIRST_DAY = datetime(2019, 1, 1, tzinfo=timezone.utc)
CHANNELS = ("web", "store", "app", "marketplace")


def order(number: int, rng: random.Random, prefix: str = "bench") -> dict[str, Any]:
    """Order ``number`` of a backfill: 1-4 catalog items, amounts in the smallest currency unit."""
    items = []
    for _ in range(rng.randint(1, 4)):
        product = rng.randrange(PRODUCTS)
        sku = f"sku-{product:04d}-{rng.randrange(SKUS_PER_PRODUCT)}"
        price = rng.randrange(199, 25_000)
        quantity = rng.randint(1, 3)
        items.append(
            {
                "source_id": sku,
                "related_object": "sku",
                "quantity": quantity,
                "price": price,
                "amount": price * quantity,
                "product": {"source_id": f"prod-{product:04d}", "price": price},
                "sku": {"source_id": sku, "price": price},
            }
        )
    created = FIRST_DAY + timedelta(seconds=rng.randrange(5 * 365 * 86_400))
    return {
        "source_id": f"{prefix}-ord-{number:08d}",
        "status": "PAID",
        "amount": sum(item["amount"] for item in items),
        "customer": {"source_id": f"{prefix}-cust-{number // CUSTOMERS_PER_ORDER:07d}"},
        "items": items,
        "metadata": {
            "original_created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "channel": CHANNELS[number % len(CHANNELS)],
        },
    }


def write_orders(path: Path, count: int, *, seed: int = 7, prefix: str = "bench") -> Path:
    """Write ``count`` orders as JSON Lines to ``path`` (gzip when it ends in ``.gz``)."""
    rng = random.Random(seed)
    handle: IO[bytes]
    with gzip.open(path, "wb", compresslevel=1) if path.suffix == ".gz" else path.open("wb") as handle:
        lines: list[bytes] = []
        for number in range(count):
            lines.append(json.dumps(order(number, rng, prefix), separators=(",", ":")).encode())
            if len(lines) == 10_000:
                handle.write(b"\n".join(lines) + b"\n")
                lines.clear()
        if lines:
            handle.write(b"\n".join(lines) + b"\n")
    return path


def client_body(count: int, *, seed: int = 7, prefix: str = "bench") -> bytes:
    """A ``POST /v1/orders/import`` body as the operator sends it: ``count`` backfill orders through
    the client's own checks and serializer, joined as the operator's batches join them."""
    # Imported here: the operator pulls in Airflow, which the file writer above does not need.
    from airflow_provider_voucherify.importing.validation import Counts, serialized_orders

    rng = random.Random(seed)
    records = [(number + 1, order(number, rng, prefix)) for number in range(count)]
    return b"[" + b",".join(body for body, _ in serialized_orders(records, counts=Counts())) + b"]"
