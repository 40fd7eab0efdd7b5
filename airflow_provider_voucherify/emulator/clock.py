"""The emulated clock: ``time_scale`` emulated seconds pass per real second.

Rate-limit windows, import speed and per-import overhead run on it, so an hourly limit can be
tested in seconds, and a test may move it forward (:meth:`EmulatedClock.advance`, the control
``POST /_emulator/clock``) instead of waiting for a rate-limit window in real time (a move changes
the windows only: imports and exports measure their progress in real time). What a client acts on
(``Retry-After``, ``X-Rate-Limit-Retry``) is converted back to real time, so clients need not know
the scale. Stored timestamps (``created_at``) stay real: a client's ``end_date`` cursor is computed
from its own clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime, timezone


class EmulatedClock:
    """Emulated epoch seconds that equal the real ones at ``origin`` and run ``scale`` times faster,
    plus ``skipped``: the emulated seconds a test moved the clock forward by.

    :param scale: emulated seconds per real second (> 0)
    :param real: the real clock (epoch seconds); a test may pass a fake one
    """

    def __init__(self, scale: float = 1.0, real: Callable[[], float] = time.time) -> None:
        if scale <= 0:
            raise ValueError(f"time scale must be positive, got {scale}")
        self.scale = scale
        self.real = real
        self.origin = real()
        self.skipped = 0.0

    def now(self) -> float:
        """Emulated epoch seconds."""
        return self.emulated_at(self.real())

    def emulated_at(self, real: float) -> float:
        """What the emulated clock shows at the real epoch seconds ``real``."""
        return self.origin + (real - self.origin) * self.scale + self.skipped

    def real_at(self, emulated: float) -> float:
        """The real epoch seconds at which the emulated clock shows ``emulated``."""
        return self.origin + (emulated - self.skipped - self.origin) / self.scale

    def advance(self, seconds: float = 0.0, to_top_of: float | None = None) -> float:
        """Move the clock forward by ``seconds`` emulated seconds, then, with ``to_top_of``, on to the
        start of the next calendar window of that length (60: the next minute, 3600: the next hour).

        It never goes back while windows are counted (only :meth:`back_to_real_time`, when the
        emulator forgets every count), so every window already counted stays as it was.

        :returns: the emulated epoch seconds now
        :raises ValueError: for negative ``seconds`` or a ``to_top_of`` that is not positive
        """
        if seconds < 0:
            raise ValueError(f"the clock only moves forward, got {seconds} seconds")
        self.skipped += seconds
        if to_top_of is not None:
            if to_top_of <= 0:
                raise ValueError(f"to_top_of must be a positive window length, got {to_top_of}")
            now = self.now()
            self.skipped += window_end(now, to_top_of) - now
        return self.now()

    def back_to_real_time(self) -> None:
        """Forget every move (the emulator's reset, which forgets every window and export too)."""
        self.skipped = 0.0

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
