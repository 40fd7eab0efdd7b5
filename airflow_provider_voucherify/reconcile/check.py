"""Reading the sample back and comparing it: the readers are passed in, so the loop has no HTTP of its own.

Cost: one ``read_order`` per sampled order, and with ``read_customer`` one read per distinct
customer or referrer of the sampled orders whose ``source_id`` or profile was sent (each read once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_voucherify.reconcile.compare import MISSING, Difference, compare_order
from airflow_provider_voucherify.reconcile.sample import OrderSample

Reader = Callable[[str], "Mapping[str, Any] | None"]


class CachedReader:
    """Reads each key once and counts the reads (``None``: not found, cached as well)."""

    def __init__(self, read: Reader) -> None:
        self._read = read
        self._known: dict[str, Mapping[str, Any] | None] = {}
        self.reads = 0

    def __call__(self, key: str) -> Mapping[str, Any] | None:
        if key not in self._known:
            self.reads += 1
            self._known[key] = self._read(key)
        return self._known[key]


@dataclass
class SampleResult:
    """What reading the sample back found."""

    sampled: int = 0
    matched: int = 0
    missing: int = 0
    order_reads: int = 0
    customer_reads: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def mismatches(self) -> int:
        return self.sampled - self.matched


def check_sample(
    sample: OrderSample, read_order: Reader, read_customer: Reader | None = None
) -> SampleResult:
    """Read every sampled order back (``read_order(source_id)``, ``None`` when not found) and compare.

    :param read_customer: customer id -> customer object; ``None`` checks customers by id only
    """
    result = SampleResult()
    customers = CachedReader(read_customer) if read_customer is not None else None
    for entry in sample.orders:
        stored = read_order(entry.source_id)
        result.order_reads += 1
        result.sampled += 1
        found = compare_order(
            entry.source_id,
            entry.sent(),
            stored,
            profiles=sample.profiles(entry),
            lookup_customer=customers,
        )
        if not found:
            result.matched += 1
        elif found[0].stored == MISSING and found[0].field == "order":
            result.missing += 1
        result.differences.extend(found)
    result.customer_reads = customers.reads if customers is not None else 0
    return result
