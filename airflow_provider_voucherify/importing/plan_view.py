"""The plan's view of an import: bulk calls left in the window, when the next opens, the ETA. Pure.

Voucherify says little up front: a bulk-limit 429 names the limit (``X-Rate-Limit-Limit``) and
when the window reopens (``retry_at``). From the first refusal on (or from the start, when the
operator is told ``bulk_calls_per_hour``), :class:`PlanView` counts the bulk calls spent in the
current window and learns the window's length from the refusals
(:class:`~airflow_provider_voucherify.rate_limits.WindowLength`: an hour on every plan, unless an
emulator runs time-scaled). The ETA is the dry run's arithmetic (:func:`windows_spanned`): the
physical ceiling is one batch per bulk call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_voucherify.rate_limits import HOUR, WindowLength, clock_time, when


def windows_spanned(batches: int, per_window: int, left: int) -> int:
    """How many windows, the current one included, ``batches`` bulk calls span at ``per_window``
    a window when ``left`` are still free in the current one (0 for no batch).

    The dry run's ``hours_at_bulk_limit`` is ``windows_spanned(n, k, k)`` (``ceil(n / k)``); a
    running import's ETA is the opening of the last of them.
    """
    if batches <= 0:
        return 0
    if batches <= left:
        return 1
    return 1 + math.ceil((batches - left) / per_window)


@dataclass
class PlanView:
    """What the import knows of the plan's bulk limit (all times are epoch seconds, wall clock).

    :param limit: bulk calls per window, from the last 429 or the operator's
        ``bulk_calls_per_hour`` (``None`` until either)
    :param window_opens: when the current window (or the one the last 429 pointed at) opens
    :param used: bulk calls accepted since ``window_opens``
    :param length: what the refusals told of the window's length
    """

    limit: int | None = None
    window_opens: float | None = None
    used: int = 0
    length: WindowLength = field(default_factory=WindowLength)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanView:
        data = dict(data or {})
        # A deferral by the previous release carried ``period`` and ``learned`` instead.
        period, learned = data.pop("period", None), data.pop("learned", False)
        length = WindowLength.from_dict(data.pop("length", None))
        if learned and period:
            length.measured = float(period)
        return cls(**data, length=length)

    def to_dict(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "window_opens": self.window_opens,
            "used": self.used,
            "length": self.length.to_dict(),
        }

    @property
    def period(self) -> float | None:
        """The window's length, at most (``None`` while unknown: a time-scaled emulator's window
        before two refusals measured it)."""
        return self.length.length()

    @property
    def learned(self) -> bool:
        return self.length.learned

    def told(self, per_hour: int | None, now: float) -> None:
        """The operator was told the plan's ``bulk_calls_per_hour``: count from the calendar hour."""
        if per_hour and self.limit is None:
            self.limit, self.window_opens = per_hour, math.floor(now / HOUR) * HOUR

    def refused(self, retry_at: float, limit: int | None) -> None:
        """A bulk call was refused until ``retry_at``; ``limit`` is the 429's X-Rate-Limit-Limit."""
        self.length.reopens(retry_at)
        if limit:
            self.limit = limit
        self.window_opens = retry_at
        self.used = 0

    def accepted(self, now: float) -> None:
        period = self.period
        if self.window_opens is not None and period and now >= self.window_opens + period:
            # A whole window passed without a refusal: a new one began at a period boundary.
            self.window_opens += math.floor((now - self.window_opens) / period) * period
            self.used = 0
        self.used += 1

    def left(self) -> int | None:
        """Bulk calls left in the current window, if known."""
        return None if self.limit is None else max(self.limit - self.used, 0)

    def next_window(self, now: float) -> float | None:
        """When the next window opens (at the latest, while the length is an estimate), if known."""
        if self.window_opens is None:
            return None
        if self.window_opens > now:
            return self.window_opens
        period = self.period
        if period is None:
            return None
        return self.window_opens + (math.floor((now - self.window_opens) / period) + 1) * period

    def eta(self, batches_left: int, now: float) -> float | None:
        """When the last of ``batches_left`` batches can be accepted at the plan's rate."""
        left = self.left()
        if left is None or self.window_opens is None or self.limit is None:
            return None
        spanned = windows_spanned(batches_left, self.limit, left)
        if spanned <= 1:
            return max(self.window_opens, now)
        period = self.period
        if period is None:
            return None
        return self.window_opens + (spanned - 1) * period

    def describe(self, batches_left: int | None, now: float) -> str:
        """``bulk calls: 3 of 10 left in this window, next window 14:00:00Z, ETA ...``; "" if unknown."""
        left = self.left()
        if left is None or self.window_opens is None:
            return ""
        text = f"bulk calls: {left} of {self.limit} left in this window"
        next_open = self.next_window(now)
        by = "" if self.learned or self.window_opens > now else "by "
        if next_open is None:
            text += ", next window not known yet (its length is measured at the next refusal)"
        else:
            text += f", next window {by}{clock_time(next_open)}"
        if batches_left:
            eta = self.eta(batches_left, now)
            if eta is not None:
                text += f", ETA {by}{when(eta)} for {batches_left} more batches at the plan's rate"
        return text


def batches_left(
    total: int | None, read: int, batch_size: int, batches_done: int, fraction: float | None
) -> int | None:
    """Batches still to send: exact for a list (``total`` known), estimated from the share of the
    file read otherwise; ``None`` when there is no way to tell."""
    if total is not None:
        return math.ceil(max(total - read, 0) / batch_size)
    if fraction and fraction < 1 and batches_done:
        # A file read to its end (into the read buffer) tells nothing about what is left.
        return max(round(batches_done / fraction) - batches_done, 0)
    return None
