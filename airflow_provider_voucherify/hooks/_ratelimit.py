"""The ``X-Rate-Limit-*`` headers of an answer, read into plain data: pure, no I/O."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """The rate-limit view of one answer, as the API reported it.

    :param limit: ``X-Rate-Limit-Limit``: calls allowed in the current window
    :param remaining: ``X-Rate-Limit-Remaining``: calls left in the current window
    :param limit_type: ``X-Rate-Limit-Type`` (``api_calls``, ``bulk_api_calls``,
        ``api_calls_cycle``, ...): sent on a 429, ``None`` when the answer did not name it
    :param seen_at: epoch seconds (wall clock) when the answer arrived
    """

    limit: int | None = None
    remaining: int | None = None
    limit_type: str | None = None
    seen_at: float = 0.0


def _integer(value: str | None) -> int | None:
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return int(float(value))
    return None


def read_rate_limit(headers: Mapping[str, str], now: float) -> RateLimit | None:
    """The answer's ``X-Rate-Limit-*`` values, or ``None`` when it carried none of them.

    ``headers`` must look names up case-insensitively (``httpx.Headers`` does).
    """
    limit = _integer(headers.get("x-rate-limit-limit"))
    remaining = _integer(headers.get("x-rate-limit-remaining"))
    limit_type = headers.get("x-rate-limit-type") or None
    if limit is None and remaining is None and limit_type is None:
        return None
    return RateLimit(limit=limit, remaining=remaining, limit_type=limit_type, seen_at=now)
