"""Cut serialized orders into import requests: pure, no I/O.

A batch holds at most ``batch_size`` orders (never above the API's 2000) and at most 10 MiB
(10,485,760 bytes) of JSON counting the brackets and commas, whichever comes first; a smaller body
limit learned from the API's 413 (``_body_limit.BodyLimit``) applies to every batch cut after it. Each order's
bytes are copied once, into the request body; the body's SHA-256 is the batch's fingerprint, which
lets a retried task recognise a batch it already sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from airflow_provider_voucherify.models import MAX_IMPORT_BYTES, MAX_ORDERS_PER_IMPORT

BRACKETS = len(b"[]")


class MaxBytes(Protocol):
    """A body limit that may go down while batches are being cut (see ``_body_limit.BodyLimit``)."""

    max_bytes: int


@dataclass(frozen=True)
class Batch:
    """One ``POST /v1/orders/import`` body.

    :param number: 1-based position of the batch in the import
    :param body: the JSON array, as sent
    :param count: the number of orders in it
    :param resend_safe: every order has a ``source_id``, so sending the body twice only updates
    :param ends: where each order ends in ``body`` (the offset of the "," or "]" after it), so
        that a batch the API finds too large can be split without parsing it again
    """

    number: int
    body: bytes = field(repr=False)
    count: int
    resend_safe: bool
    ends: tuple[int, ...] = field(default=(), repr=False)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the body, computed on first use only (not at all without a state store)."""
        return hashlib.sha256(self.body).hexdigest()


def batches(
    orders: Iterable[tuple[bytes, bool]],
    *,
    batch_size: int = MAX_ORDERS_PER_IMPORT,
    max_bytes: int = MAX_IMPORT_BYTES,
    body_limit: MaxBytes | None = None,
    on_cut: Callable[[], None] | None = None,
) -> Iterator[Batch]:
    """Group ``(order JSON, has source_id)`` pairs into batches, keeping their order.

    :param body_limit: read before each order is placed; its ``max_bytes``, when lower than
        ``max_bytes``, caps the batches cut from then on
    :param on_cut: called when a batch is closed because the order just read opens the next one
    :raises ValueError: for a ``batch_size`` outside 1..2000, or an order too big for any batch
    """
    if not 1 <= batch_size <= MAX_ORDERS_PER_IMPORT:
        raise ValueError(f"batch_size must be between 1 and {MAX_ORDERS_PER_IMPORT}, got {batch_size}")
    parts: list[bytes] = []
    ends: list[int] = []
    size = BRACKETS
    safe = True
    number = 0
    for body, has_source_id in orders:
        limit = max_bytes if body_limit is None else min(max_bytes, body_limit.max_bytes)
        if BRACKETS + len(body) > max_bytes:
            raise ValueError(f"an order of {len(body)} bytes does not fit in a {max_bytes}-byte import")
        if parts and (len(parts) == batch_size or size + 1 + len(body) > limit):
            number += 1
            if on_cut is not None:
                on_cut()
            yield Batch(number, b"[" + b",".join(parts) + b"]", len(parts), safe, tuple(ends))
            parts, ends, size, safe = [], [], BRACKETS, True
        size += len(body) + (1 if parts else 0)
        parts.append(body)
        ends.append(size - 1)
        safe = safe and has_source_id
    if parts:
        yield Batch(number + 1, b"[" + b",".join(parts) + b"]", len(parts), safe, tuple(ends))
