"""Cut serialized orders into import requests: pure, no I/O.

A batch holds at most ``batch_size`` orders (never above the API's 2000) and at most 10 MiB
(10,485,760 bytes) of JSON counting the brackets and commas, whichever comes first. Each order's
bytes are copied once, into the request body; the body's SHA-256 is the batch's fingerprint, which
lets a retried task recognise a batch it already sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from airflow_provider_voucherify.models import MAX_IMPORT_BYTES, MAX_ORDERS_PER_IMPORT

BRACKETS = len(b"[]")


@dataclass(frozen=True)
class Batch:
    """One ``POST /v1/orders/import`` body.

    :param number: 1-based position of the batch in the import
    :param body: the JSON array, as sent
    :param count: the number of orders in it
    :param resend_safe: every order has a ``source_id``, so sending the body twice only updates
    """

    number: int
    body: bytes = field(repr=False)
    count: int
    resend_safe: bool

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the body, computed on first use only (not at all without a state store)."""
        return hashlib.sha256(self.body).hexdigest()


def batches(
    orders: Iterable[tuple[bytes, bool]],
    *,
    batch_size: int = MAX_ORDERS_PER_IMPORT,
    max_bytes: int = MAX_IMPORT_BYTES,
) -> Iterator[Batch]:
    """Group ``(order JSON, has source_id)`` pairs into batches, keeping their order.

    :raises ValueError: for a ``batch_size`` outside 1..2000, or an order too big for any batch
    """
    if not 1 <= batch_size <= MAX_ORDERS_PER_IMPORT:
        raise ValueError(f"batch_size must be between 1 and {MAX_ORDERS_PER_IMPORT}, got {batch_size}")
    parts: list[bytes] = []
    size = BRACKETS
    safe = True
    number = 0
    for body, has_source_id in orders:
        if BRACKETS + len(body) > max_bytes:
            raise ValueError(f"an order of {len(body)} bytes does not fit in a {max_bytes}-byte import")
        if parts and (len(parts) == batch_size or size + 1 + len(body) > max_bytes):
            number += 1
            yield Batch(number, b"[" + b",".join(parts) + b"]", len(parts), safe)
            parts, size, safe = [], BRACKETS, True
        size += len(body) + (1 if parts else 0)
        parts.append(body)
        safe = safe and has_source_id
    if parts:
        yield Batch(number + 1, b"[" + b",".join(parts) + b"]", len(parts), safe)
