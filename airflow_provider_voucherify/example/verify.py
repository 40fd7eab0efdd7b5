"""Does Voucherify now hold what the warehouse holds? Counts, then a random sample field by field.

The sample is drawn while streaming the warehouse's per-order rows (reservoir sampling), so
memory holds ``sample_size`` orders whatever the size of the month. The fields compared carry no
personal data (status, amount, item count, customer ``source_id``), so the table of differences
is safe to log.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_voucherify.example.transform import Row, to_cents
from airflow_provider_voucherify.exceptions import VoucherifyApiError, VoucherifyError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook

MISSING = "(missing)"


class ReadablePath(Protocol):
    """A local ``pathlib.Path`` or an ``ObjectStoragePath``."""

    def exists(self) -> bool: ...

    def open(self, mode: str = ...) -> Any: ...


class VerificationError(VoucherifyError):
    """The import does not match the warehouse; the message holds the counts or a table."""


@dataclass(frozen=True)
class Expected:
    """What the warehouse says one order must look like in Voucherify."""

    source_id: str
    status: str | None
    amount: int | None
    item_count: int
    customer_source_id: str | None

    @classmethod
    def from_row(cls, row: Row) -> Expected:
        """From a row with ``order_source_id``, ``order_status``, ``order_amount``, ``item_count``,
        ``customer_source_id`` (amount in currency units, as in the warehouse)."""
        customer = row.get("customer_source_id")
        return cls(
            source_id=str(row["order_source_id"]),
            status=row.get("order_status"),
            amount=to_cents(row.get("order_amount")),
            item_count=int(row.get("item_count") or 0),
            customer_source_id=None if customer is None else str(customer),
        )


@dataclass(frozen=True)
class Difference:
    source_id: str
    field: str
    warehouse: Any
    voucherify: Any


@dataclass
class Report:
    """The figures of one verification, as the verify task returns them."""

    extracted: int = 0
    rejected: int = 0
    imported: int = 0
    sampled: int = 0
    matched: int = 0
    differences: list[Difference] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            "extracted": self.extracted,
            "rejected": self.rejected,
            "imported": self.imported,
            "sampled": self.sampled,
            "matched": self.matched,
        }


def sample_expected(
    rows: Iterable[Row], sample_size: int, *, exclude: Iterable[str] = (), seed: int | str | None = None
) -> tuple[int, list[Expected]]:
    """Count the orders in ``rows`` and draw ``sample_size`` of them, skipping ``exclude`` source ids.

    :returns: (number of rows, the sample); the sample is uniform over the non-excluded orders
    """
    rng = random.Random(seed)
    skip = set(exclude)
    total, eligible = 0, 0
    reservoir: list[Expected] = []
    for row in rows:
        total += 1
        if str(row["order_source_id"]) in skip:
            continue
        eligible += 1
        if len(reservoir) < sample_size:
            reservoir.append(Expected.from_row(row))
        else:
            slot = rng.randrange(eligible)
            if slot < sample_size:
                reservoir[slot] = Expected.from_row(row)
    return total, reservoir


def compare(expected: Expected, order: Mapping[str, Any], customer_source_id: str | None) -> list[Difference]:
    """The fields where ``order`` (as ``GET /v1/orders/{id}`` returns it) differs from the warehouse."""
    actual = {
        "status": order.get("status"),
        "amount": order.get("amount"),
        "item_count": len(order.get("items") or ()),
        "customer_source_id": customer_source_id,
    }
    wanted = {
        "status": expected.status,
        "amount": expected.amount,
        "item_count": expected.item_count,
        "customer_source_id": expected.customer_source_id,
    }
    return [
        Difference(expected.source_id, name, wanted[name], actual[name])
        for name in wanted
        if wanted[name] != actual[name]
    ]


def render_table(differences: Iterable[Difference]) -> str:
    """A plain-text table of differences, readable in a task log."""
    rows = [("source_id", "field", "warehouse", "voucherify")] + [
        (d.source_id, d.field, str(d.warehouse), str(d.voucherify)) for d in differences
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def rejected_source_ids(rejects: ReadablePath) -> set[str]:
    """The source ids listed in the import's rejects file (none if the file does not exist)."""
    if not rejects.exists():
        return set()
    found = set()
    with rejects.open("rb") as lines:
        for line in lines:
            if line.strip():
                source_id = json.loads(line).get("source_id")
                if source_id is not None:
                    found.add(str(source_id))
    return found


class _Customers:
    """Customer id -> source_id, each looked up once (the order holds only the customer's id)."""

    def __init__(self, hook: VoucherifyHook) -> None:
        self.hook = hook
        self.known: dict[str, str | None] = {}

    def source_id(self, order: Mapping[str, Any]) -> str | None:
        customer = order.get("customer") or {}
        if "source_id" in customer:
            return customer["source_id"]  # type: ignore[no-any-return]
        customer_id = order.get("customer_id") or customer.get("id")
        if not customer_id:
            return None
        if customer_id not in self.known:
            found = self.hook.get_customer(customer_id)
            self.known[customer_id] = found.get("source_id")
        return self.known[customer_id]


def check_sample(hook: VoucherifyHook, sample: Iterable[Expected]) -> tuple[int, list[Difference]]:
    """Read each sampled order back by ``source_id``; returns (orders sampled, differences)."""
    customers = _Customers(hook)
    sampled, differences = 0, []
    for expected in sample:
        sampled += 1
        try:
            order = hook.get_order(expected.source_id)
        except VoucherifyApiError as exc:
            if exc.status_code != 404:
                raise
            differences.append(Difference(expected.source_id, "order", "present", MISSING))
            continue
        differences.extend(compare(expected, order, customers.source_id(order)))
    return sampled, differences


def check_import(
    hook: VoucherifyHook,
    rows: Iterable[Row],
    *,
    imported: int,
    rejected_source_ids: Iterable[str],
    rejected: int,
    sample_size: int,
    seed: int | str | None = None,
) -> Report:
    """Check the counts, then a sample; raise :class:`VerificationError` on any difference.

    :param rows: the warehouse's per-order rows for the interval (see :meth:`Expected.from_row`)
    :param imported: the summed ``done_count`` of the import's async actions
    :param rejected_source_ids: source ids refused before sending (kept out of the sample)
    :param rejected: how many orders were refused before sending (some may lack a source id)
    """
    extracted, sample = sample_expected(rows, sample_size, exclude=rejected_source_ids, seed=seed)
    report = Report(extracted=extracted, rejected=rejected, imported=imported)
    if imported != extracted - rejected:
        raise VerificationError(
            f"Voucherify imported {imported} orders, but the warehouse has {extracted} for this interval "
            f"and {rejected} were rejected: expected {extracted - rejected}"
        )
    report.sampled, report.differences = check_sample(hook, sample)
    mismatched = {difference.source_id for difference in report.differences}
    report.matched = report.sampled - len(mismatched)
    if report.differences:
        raise VerificationError(
            f"{len(mismatched)} of {report.sampled} sampled orders differ from the warehouse:\n"
            + render_table(report.differences)
        )
    return report
