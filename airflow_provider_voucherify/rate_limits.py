"""Voucherify's rate limits, as every part of the provider meets them: one place for the facts.

- What an answer says: the ``X-Rate-Limit-*`` headers (:func:`read_rate_limit`), and how long a
  429 asks us to stay away (``Retry-After`` in seconds or as an HTTP date, ``X-Rate-Limit-Retry``
  in epoch seconds: :func:`server_wait`, :func:`retry_at`).
- How the limits are counted: in calendar windows (a minute, an hour: :func:`window_end`); past a
  limit, calls are refused until the window ends.
- How moments are shown in progress lines (:func:`when`, :func:`clock_time`), and the one way to
  wait for a window in-process (:func:`sleep_until`).

Which limits waiting can cure is the error policy's (:mod:`~airflow_provider_voucherify.error_policy`);
the two planners built on these facts are the wait's ordinary-call budget
(:mod:`~airflow_provider_voucherify.waiting.pacing`) and the import's bulk-call view
(:mod:`~airflow_provider_voucherify.importing.plan_view`). No Airflow here.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

HOUR = 3600.0
MINUTE = 60.0


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


def server_wait(headers: Mapping[str, str], now: float) -> float:
    """Seconds the API asked us to wait (``Retry-After`` or ``X-Rate-Limit-Retry``), 0 if none."""
    waits = [0.0]
    retry_after = headers.get("retry-after")
    if retry_after:
        try:
            waits.append(float(retry_after))
        except ValueError:
            with contextlib.suppress(TypeError, ValueError):
                waits.append(parsedate_to_datetime(retry_after).timestamp() - now)
    retry_at = headers.get("x-rate-limit-retry")
    if retry_at:
        with contextlib.suppress(ValueError):
            waits.append(float(retry_at) - now)
    return max(waits)


def retry_at(headers: Mapping[str, str], now: float) -> float | None:
    """Epoch seconds when the API said to come back, or ``None`` when it named no time."""
    if not (headers.get("retry-after") or headers.get("x-rate-limit-retry")):
        return None
    return now + server_wait(headers, now)


def window_end(now: float, length: float) -> float:
    """When the calendar window of ``length`` seconds holding ``now`` (epoch seconds) ends."""
    return (math.floor(now / length) + 1) * length


def clock_time(epoch: float) -> str:
    """``14:00:00Z``: a wall-clock moment in UTC, as progress lines show it."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%H:%M:%SZ")


def when(epoch: float) -> str:
    """``2026-11-30T14:00:00Z``."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sleep_until(
    moment: float,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait in this process until ``moment`` (epoch seconds); ``clock`` and ``sleep`` are seams for tests."""
    sleep(max(moment - clock(), 0.0))
