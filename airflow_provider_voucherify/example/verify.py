"""The warehouse side of verification: did every order of the interval reach the import?

``ReconcileOrdersOperator`` proves the Voucherify side (counts from the async actions, a sample
compared field by field with what was sent) from the staged file alone. What only the warehouse
knows is how many orders the interval holds: each one must be accounted for as imported, rejected
by the import's validation, or refused by Voucherify::

    extracted = imported + rejected + refused
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_voucherify.example.extract import SqlHook, stream_rows
from airflow_provider_voucherify.exceptions import VoucherifyError


class VerificationError(VoucherifyError):
    """The warehouse's count does not match what the import accounts for."""


def count_orders(hook: SqlHook, sql: str, parameters: Sequence[Any] = ()) -> int:
    """The single number a ``SELECT COUNT(*) ...`` query returns (``{placeholder}`` as in ``stream_rows``)."""
    for row in stream_rows(hook, sql, parameters):
        return int(next(iter(row.values())))
    raise VerificationError("the count query returned no row")


def check_counts(extracted: int, reconciliation: Mapping[str, Any]) -> dict[str, int]:
    """Check ``extracted = imported + rejected + refused`` against ``ReconcileOrdersOperator``'s XCom.

    :param extracted: orders of the interval in the warehouse
    :param reconciliation: the reconcile task's return value (``done``, ``invalid``, ``failed``,
        ``sampled``, ``matched``)
    :returns: ``{"extracted", "rejected", "imported", "sampled", "matched"}``
    :raises VerificationError: when the figures do not add up
    """
    imported, rejected, refused = reconciliation["done"], reconciliation["invalid"], reconciliation["failed"]
    if imported + rejected + refused != extracted:
        raise VerificationError(
            f"the warehouse has {extracted} orders for this interval, but the import accounts for "
            f"{imported + rejected + refused}: {imported} imported + {rejected} rejected + {refused} refused"
        )
    return {
        "extracted": extracted,
        "rejected": rejected,
        "imported": imported,
        "sampled": reconciliation["sampled"],
        "matched": reconciliation["matched"],
    }
