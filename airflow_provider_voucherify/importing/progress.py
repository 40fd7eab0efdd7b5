"""One progress line per accepted batch: count, rate and estimated time left. Pure, no I/O.

The time left is the later of two estimates: the pace of this try (orders per second), and the
plan's bulk limit (when the last batches can be accepted at the plan's rate: the dry run's
arithmetic, :meth:`~airflow_provider_voucherify.importing.plan_view.PlanView.eta`). Before the
plan's limit is known the pace alone says nothing true on a limited plan, so the line says so.
"""

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

    def describe(
        self,
        batch: int,
        done: int,
        sent: int,
        fraction: float | None = None,
        *,
        plan_wait: float | None = None,
        plan_known: bool | None = True,
    ) -> str:
        """``batch``: its 1-based number; ``done``: orders sent or already accepted so far;
        ``sent``: orders posted by this try (the rate counts those); ``fraction``: share of the
        input read, for an ETA when ``total`` is unknown; ``plan_wait``: seconds until the plan's
        bulk limit lets the last batch through, when known; ``plan_known``: whether the plan's
        bulk limit is known at all (``False``: the ETA is the pace's, and says so; ``None``: the
        limit is known but not yet its window's length, so there is no ETA yet).
        """
        elapsed = max(self._clock() - self._start, 1e-9)
        rate = sent / elapsed
        text = f"batch {batch}: {done} orders sent" + (f" of {self.total}" if self.total else "")
        text += f" ({rate:,.0f} orders/s"
        left: float | None = None
        if self.total and rate > 0:
            left = (self.total - done) / rate
        elif fraction:
            text += f", {fraction:.0%} of the input read"
            left = elapsed * (1 - fraction) / fraction
        if plan_wait is not None and (left is None or plan_wait > left):
            return text + f", ETA {_duration(plan_wait)} at the plan's bulk limit)"
        if plan_known is None and plan_wait is None:
            return text + ", ETA once the plan's window is measured, at the next refusal)"
        if left is not None:
            text += f", ETA {_duration(left)}"
            if not plan_known:
                text += " at this pace, if the plan's bulk limit allows"
        return text + ")"
