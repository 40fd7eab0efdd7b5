"""Reading the sample back and comparing it: the readers are passed in, so the loop has no HTTP of its own.

Cost: one ``read_order`` per sampled order, and with ``read_customer`` one read per distinct
customer or referrer of the sampled orders whose ``source_id`` or profile was sent (each read once).
Without ``read_customer``, customer links are still checked from the order reads alone
(:class:`~airflow_provider_voucherify.reconcile.links.PartyLinks`).

The loop can stop at any read (a rate limit) and go on later: :class:`SampleResult` holds what was
compared so far as plain, non-personal data (:meth:`SampleResult.to_dict`), and a later
:func:`check_sample` given it reads only the orders not compared yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_voucherify.exceptions import VoucherifyApiError
from airflow_provider_voucherify.reconcile.compare import MISSING, Difference, compare_order
from airflow_provider_voucherify.reconcile.links import PartyLinks
from airflow_provider_voucherify.reconcile.sample import OrderSample

Reader = Callable[[str], "Mapping[str, Any] | None"]
_COUNTERS = ("sampled", "matched", "missing", "order_reads", "customer_reads")


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
    """What reading the sample back found so far.

    :param compared: source ids of the sampled orders already read and compared
    :param links: the customer links seen (checked when customers are not read)
    :param links_checked: whether the links' mix-ups are in ``differences`` (once all is compared)
    """

    sampled: int = 0
    matched: int = 0
    missing: int = 0
    order_reads: int = 0
    customer_reads: int = 0
    differences: list[Difference] = field(default_factory=list)
    compared: list[str] = field(default_factory=list)
    links: PartyLinks = field(default_factory=PartyLinks)
    links_checked: bool = False

    @property
    def mismatches(self) -> int:
        return self.sampled - self.matched

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready and free of personal data (the rows show personal fields as ``differs``)."""
        data = asdict(self)
        data["links"] = self.links.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SampleResult:
        return cls(
            **{key: int(data.get(key, 0)) for key in _COUNTERS},
            differences=[Difference(**row) for row in data.get("differences", [])],
            compared=list(data.get("compared", [])),
            links=PartyLinks.from_dict(data.get("links")),
            links_checked=bool(data.get("links_checked", False)),
        )


def check_sample(
    sample: OrderSample,
    read_order: Reader,
    read_customer: Reader | None = None,
    result: SampleResult | None = None,
) -> SampleResult:
    """Read every sampled order back (``read_order(source_id)``, ``None`` when not found) and compare.

    :param read_customer: customer id -> customer object (a :class:`CachedReader` is kept as it is,
        so its cache outlives one call); ``None`` checks customers by id and by the links the order
        reads show
    :param result: what an earlier, interrupted call compared: those orders are not read again.
        It is updated in place as orders are compared, so an exception (a rate limit) leaves it
        holding everything compared up to then.
    """
    result = result if result is not None else SampleResult()
    customers = None
    if read_customer is not None:
        customers = read_customer if isinstance(read_customer, CachedReader) else CachedReader(read_customer)
    done = set(result.compared)
    for entry in sample.orders:
        if entry.source_id in done:
            continue
        before = customers.reads if customers is not None else 0
        stored = read_order(entry.source_id)
        result.order_reads += 1  # counted even if a customer read below is refused: it was spent
        sent = entry.sent()
        found = compare_order(
            entry.source_id, sent, stored, profiles=sample.profiles(entry), lookup_customer=customers
        )
        if stored is not None and customers is None:
            result.links.record(entry.source_id, sent, stored)
        result.customer_reads += (customers.reads if customers is not None else 0) - before
        result.sampled += 1
        if not found:
            result.matched += 1
        elif found[0].stored == MISSING and found[0].field == "order":
            result.missing += 1
        result.differences.extend(found)
        result.compared.append(entry.source_id)
        done.add(entry.source_id)
    if customers is None and not result.links_checked:
        # Only now: which of two orders holds the wrong link takes the whole sample to tell.
        result.links_checked = True
        mixed = result.links.differences()
        clean = set(result.compared) - {d.source_id for d in result.differences}
        result.matched -= len(clean & {d.source_id for d in mixed})
        result.differences.extend(mixed)
    return result


def found_or_none(get: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any] | None]:
    """A read (``hook.get_order``...) that answers ``None`` for 404 (not found) instead of raising."""

    def read(key: str) -> dict[str, Any] | None:
        try:
            return get(key)
        except VoucherifyApiError as exc:
            if exc.status_code == 404:
                return None
            raise

    return read
