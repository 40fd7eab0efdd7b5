"""The plan's view of an import: bulk calls left in the window, when the next opens, the ETA. Pure.

Voucherify says little up front: a bulk-limit 429 names the limit (``X-Rate-Limit-Limit``) and
when the window reopens (``retry_at``). From the first refusal on, :class:`PlanView` counts the
bulk calls spent in the current window and learns the window's length from two refusals (an
hour on every plan, unless an emulator runs time-scaled), which is all an ETA at the plan's
rate needs: the physical ceiling is one batch per bulk call.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_voucherify.rate_limits import HOUR, clock_time, when


@dataclass
class PlanView:
    """What the import knows of the plan's bulk limit (all times are epoch seconds, wall clock).

    :param limit: bulk calls per window, from the last 429 (``None`` until one)
    :param window_opens: when the window the last 429 pointed at opens (or opened)
    :param period: the window's length, learned from two refusals (an hour until then)
    :param used: bulk calls accepted since ``window_opens``
    :param learned: whether ``period`` was measured rather than assumed
    """

    limit: int | None = None
    window_opens: float | None = None
    period: float = HOUR
    used: int = 0
    learned: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanView:
        return cls(**data) if data else cls()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def refused(self, retry_at: float, limit: int | None) -> None:
        """A bulk call was refused until ``retry_at``; ``limit`` is the 429's X-Rate-Limit-Limit."""
        if self.window_opens is not None and retry_at > self.window_opens + 1:
            # The window opened at window_opens is spent and the next opens at retry_at: if the
            # import kept up they are consecutive, so the shortest gap seen is the period.
            observed = retry_at - self.window_opens
            self.period = min(self.period, observed) if self.learned else observed
            self.learned = True
        if limit:
            self.limit = limit
        self.window_opens = retry_at
        self.used = 0

    def accepted(self, now: float) -> None:
        if self.window_opens is not None and now >= self.window_opens + self.period:
            # A whole window passed without a refusal: a new one began at a period boundary.
            elapsed = math.floor((now - self.window_opens) / self.period)
            self.window_opens += elapsed * self.period
            self.used = 0
        self.used += 1

    def left(self) -> int | None:
        """Bulk calls left in the current window, if known."""
        return None if self.limit is None else max(self.limit - self.used, 0)

    def eta(self, batches_left: int, now: float) -> float | None:
        """When the last of ``batches_left`` batches can be accepted at the plan's rate."""
        left = self.left()
        if left is None or self.window_opens is None or self.limit is None:
            return None
        opens = max(self.window_opens, now)
        if batches_left <= left:
            return opens
        # ``left`` belongs to the window opening at window_opens; the rest need the windows after it.
        windows = math.ceil((batches_left - left) / self.limit)
        return self.window_opens + windows * self.period

    def describe(self, batches_left: int | None, now: float) -> str:
        """``bulk calls: 3 of 10 left in this window, next window 14:00:00Z, ETA ...``; "" if unknown."""
        left = self.left()
        if left is None or self.window_opens is None:
            return ""
        next_open = self.window_opens if self.window_opens > now else self.window_opens + self.period
        text = f"bulk calls: {left} of {self.limit} left in this window, next window {clock_time(next_open)}"
        if batches_left:
            eta = self.eta(batches_left, now)
            if eta is not None:
                text += f", ETA {when(eta)} for {batches_left} more batches at the plan's rate"
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
