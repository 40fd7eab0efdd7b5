"""One progress line per accepted batch: count, rate and estimated time left. Pure, no I/O."""

from __future__ import annotations

import time
from collections.abc import Callable


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


class Progress:
    """Measures an import from its creation and describes it after each batch.

    :param total: the number of records when known (a list); else the ETA comes from ``fraction``
    :param clock: a monotonic clock (seconds), replaceable in tests
    """

    def __init__(self, total: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self._clock = clock
        self._start = clock()

    def describe(self, batch: int, done: int, sent: int, fraction: float | None = None) -> str:
        """``batch``: its 1-based number; ``done``: orders sent or already accepted so far;
        ``sent``: orders posted by this try (the rate counts those); ``fraction``: share of the
        input read, for an ETA when ``total`` is unknown.
        """
        elapsed = max(self._clock() - self._start, 1e-9)
        rate = sent / elapsed
        text = f"batch {batch}: {done} orders sent" + (f" of {self.total}" if self.total else "")
        text += f" ({rate:,.0f} orders/s"
        if self.total and rate > 0:
            text += f", ETA {_duration((self.total - done) / rate)}"
        elif fraction:
            text += (
                f", {fraction:.0%} of the input read, ETA {_duration(elapsed * (1 - fraction) / fraction)}"
            )
        return text + ")"
