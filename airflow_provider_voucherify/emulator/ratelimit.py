"""Fixed-window rate limits per project, answered like the API's (429 and ``X-Rate-Limit-*`` headers)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

API_CALLS = "api_calls"
BULK_API_CALLS = "bulk_api_calls"
_WINDOWS = {API_CALLS: 60.0, BULK_API_CALLS: 3600.0}

Headers = list[tuple[bytes, bytes]]


@dataclass
class _Window:
    started: float
    used: int = 0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    headers: Headers
    limit_type: str = ""
    retry_after: int = 0


class RateLimiter:
    """Counts API calls per minute and bulk calls (imports) per hour, per project.

    ``window_seconds`` replaces both window lengths, so a test can see a limit reset quickly.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.limits = {API_CALLS: 0, BULK_API_CALLS: 0}
        self.window_seconds: float | None = None
        self.windows: dict[tuple[str, str], _Window] = {}

    def configure(self, per_minute: int, bulk_per_hour: int, window_seconds: float | None = None) -> None:
        self.limits = {API_CALLS: per_minute, BULK_API_CALLS: bulk_per_hour}
        self.window_seconds = window_seconds
        self.windows.clear()

    def check(self, project: str, is_bulk: bool) -> Verdict:
        """Consume one call of each applicable kind, or refuse without consuming any."""
        now = self.clock()
        kinds = [API_CALLS, BULK_API_CALLS] if is_bulk else [API_CALLS]
        active = [(kind, self._window(project, kind, now)) for kind in kinds if self.limits[kind] > 0]
        for kind, window in active:
            if window.used >= self.limits[kind]:
                reset_at = window.started + self._length(kind)
                retry_after = max(1, math.ceil(reset_at - now))
                headers = [
                    (b"retry-after", str(retry_after).encode()),
                    (b"x-rate-limit-limit", str(self.limits[kind]).encode()),
                    (b"x-rate-limit-remaining", b"0"),
                    (b"x-rate-limit-retry", str(math.ceil(reset_at)).encode()),
                    (b"x-rate-limit-type", kind.encode()),
                ]
                return Verdict(False, headers, kind, retry_after)
        for _, window in active:
            window.used += 1
        if not active:
            return Verdict(True, [])
        # Report the general API budget when it applies; the bulk one only when it is the sole limit.
        kind, window = active[0]
        remaining = self.limits[kind] - window.used
        return Verdict(
            True,
            [
                (b"x-rate-limit-limit", str(self.limits[kind]).encode()),
                (b"x-rate-limit-remaining", str(remaining).encode()),
            ],
        )

    def _length(self, kind: str) -> float:
        return self.window_seconds if self.window_seconds is not None else _WINDOWS[kind]

    def _window(self, project: str, kind: str, now: float) -> _Window:
        window = self.windows.get((project, kind))
        if window is None or now >= window.started + self._length(kind):
            window = self.windows[(project, kind)] = _Window(now)
        return window
