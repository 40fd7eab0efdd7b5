"""The emulated clock: ``time_scale`` emulated seconds pass per real second.

Rate-limit windows, import speed and per-import overhead run on it, so an hourly limit can be
tested in seconds. What a client acts on (``Retry-After``, ``X-Rate-Limit-Retry``) is converted
back to real time, so clients need not know the scale. Stored timestamps (``created_at``) stay
real: a client's ``end_date`` cursor is computed from its own clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime, timezone


class EmulatedClock:
    """Emulated epoch seconds that equal the real ones at ``origin`` and run ``scale`` times faster.

    :param scale: emulated seconds per real second (> 0)
    :param real: the real clock (epoch seconds); a test may pass a fake one
    """

    def __init__(self, scale: float = 1.0, real: Callable[[], float] = time.time) -> None:
        if scale <= 0:
            raise ValueError(f"time scale must be positive, got {scale}")
        self.scale = scale
        self.real = real
        self.origin = real()

    def now(self) -> float:
        """Emulated epoch seconds."""
        return self.origin + (self.real() - self.origin) * self.scale

    def real_at(self, emulated: float) -> float:
        """The real epoch seconds at which the emulated clock shows ``emulated``."""
        return self.origin + (emulated - self.origin) / self.scale

    def real_seconds(self, emulated_seconds: float) -> float:
        """A duration on the emulated clock, in real seconds."""
        return emulated_seconds / self.scale


def window_end(now: float, length: float) -> float:
    """The end of the calendar window of ``length`` seconds (a minute, an hour) holding ``now``."""
    return (math.floor(now / length) + 1) * length


def cycle_end(now: float) -> float:
    """The end of the billing cycle holding ``now``: the next first of the month, 00:00 UTC."""
    moment = datetime.fromtimestamp(now, tz=timezone.utc)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=timezone.utc).timestamp()
