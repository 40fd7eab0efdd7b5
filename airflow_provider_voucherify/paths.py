"""What goes into a request's URL: ids as path segments, each percent-encoded as exactly one
segment (the ids no path can address refused with the reason), and the list's query. Pure, no I/O.

Every id the provider puts into a path (an order's or customer's id or ``source_id``, an async
action id, a metadata schema's resource) passes :func:`path_segment`; order and customer
``source_id`` values are checked by :func:`addressable` when a record is validated, so an order
that could never be read back is an invalid record before any import.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

# A path segment "." means the collection itself and ".." its parent (RFC 3986 removes both, as
# every HTTP stack does); an empty one names nothing. Percent-encoding does not help: "%2E" is ".".
_UNADDRESSABLE = {
    "": "is empty",
    ".": 'is ".", which a URL path reads as the collection itself (GET /v1/orders/. is the list of orders)',
    "..": 'is "..", which a URL path reads as the parent of the collection',
}


def unaddressable_reason(value: str) -> str | None:
    """Why no URL path can address ``value`` (``None`` when one can)."""
    return _UNADDRESSABLE.get(value)


def addressable(value: str) -> str:
    """``value``, when a URL path can address it (the validator of ``source_id`` fields).

    :raises ValueError: with the reason, for ``""``, ``"."`` and ``".."``
    """
    reason = unaddressable_reason(value)
    if reason is not None:
        raise ValueError(f"{reason}: the API could never read it back; use another id")
    return value


def path_segment(value: str, what: str) -> str:
    """``value`` percent-encoded as one path segment (``/`` included: ``a/b`` is ``a%2Fb``).

    :param what: what the id is, for the error (``order id or source_id``)
    :raises ValueError: naming ``what`` and the reason, for an id no path can address
    """
    reason = unaddressable_reason(value)
    if reason is not None:
        raise ValueError(f"The {what} {reason}: no URL path can address it, so nothing was requested")
    return quote(value, safe="")


def action_path(async_action_id: str) -> str:
    """The path of ``GET /v1/async-actions/{id}``."""
    return f"/v1/async-actions/{path_segment(async_action_id, 'async action id')}"


def list_params(limit: int, end_date: datetime | str | None) -> dict[str, Any]:
    """The query of ``GET /v1/async-actions``: ``limit`` (1 to 100) and ``end_date`` (ISO 8601)."""
    if not 1 <= limit <= 100:
        raise ValueError(f"limit must be between 1 and 100, got {limit}")
    params: dict[str, Any] = {"limit": limit}
    if end_date is not None:
        params["end_date"] = end_date.isoformat() if isinstance(end_date, datetime) else end_date
    return params
