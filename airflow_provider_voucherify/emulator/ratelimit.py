"""Rate limits like the API's: calendar windows, counted per organization, answered with 429.

Every answer carries ``X-Rate-Limit-Limit`` and ``X-Rate-Limit-Remaining``, as the API documents,
whatever the plan: without an ordinary limit (the ``unlimited`` plan, the default) they report
:data:`UNLIMITED_CALLS` per calendar minute, counted like a real budget (so a client sees its
calls lower ``Remaining`` and the window reset) but never refused. A 429 adds
``X-Rate-Limit-Type`` (``api_calls``, ``bulk_api_calls``, ``api_calls_cycle``), ``Retry-After``
and ``X-Rate-Limit-Retry`` pointing at the end of the window that refused the call, in real time
(see :mod:`~airflow_provider_voucherify.emulator.clock`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from airflow_provider_voucherify.emulator.clock import EmulatedClock, cycle_end, window_end
from airflow_provider_voucherify.emulator.plans import HOUR, MINUTE, Limits

API_CALLS = "api_calls"
BULK_API_CALLS = "bulk_api_calls"
API_CALLS_CYCLE = "api_calls_cycle"

Headers = list[tuple[bytes, bytes]]

# What an answer without an ordinary limit reports: more calls per minute than any client makes
# (the Organization plan allows 2,000), so pacing by it never slows anyone down.
UNLIMITED_CALLS = 1_000_000


@dataclass
class _Window:
    ends: float  # emulated epoch seconds
    used: int = 0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    headers: Headers
    limit_type: str = ""
    retry_after: float = 0  # real seconds


class RateLimiter:
    """Counts calls per limit kind and counting group, in windows of the emulated clock.

    A counting group is an organization (its projects share the plan's budget) or a project with
    limits of its own (a Sandbox project, say). ``window_seconds`` replaces every window with a
    fixed length starting at its first call, so a test can see a limit reset quickly.
    """

    def __init__(self, clock: EmulatedClock | None = None) -> None:
        self.clock = clock or EmulatedClock()
        self.limits = Limits()
        self.window_seconds: float | None = None
        self.organizations: dict[str, str] = {}  # project -> organization
        self.own_limits: dict[str, Limits] = {}  # project -> its own limits
        self.windows: dict[tuple[str, str], _Window] = {}

    def configure(self, limits: Limits, window_seconds: float | None = None) -> None:
        """Set the organization-wide limits (and forget every count)."""
        self.limits = limits
        self.window_seconds = window_seconds
        self.windows.clear()

    def configure_projects(self, organizations: dict[str, str], own_limits: dict[str, Limits]) -> None:
        self.organizations = dict(organizations)
        self.own_limits = dict(own_limits)
        self.windows.clear()

    def describe(self) -> dict[str, object]:
        return {
            **self.limits.describe(),
            "window_seconds_override": self.window_seconds,
            "time_scale": self.clock.scale,
            "projects_with_own_limits": {name: lim.describe() for name, lim in self.own_limits.items()},
        }

    def _group(self, project: str) -> tuple[str, Limits]:
        if project in self.own_limits:
            return f"project:{project}", self.own_limits[project]
        return f"organization:{self.organizations.get(project, '')}", self.limits

    def check(self, project: str, is_bulk: bool) -> Verdict:
        """Consume one call of each kind that applies, or refuse without consuming any."""
        now = self.clock.now()
        group, limits = self._group(project)
        kinds = [(API_CALLS, limits.api_calls, limits.api_window)]
        if is_bulk:
            kinds.append((BULK_API_CALLS, limits.bulk_api_calls, HOUR))
        if not is_bulk or limits.cycle_counts_bulk:
            kinds.append((API_CALLS_CYCLE, limits.cycle_calls, 0.0))
        active = [
            (kind, limit, self._window(group, kind, length, now))
            for kind, limit, length in kinds
            if limit > 0
        ]
        exhausted = [(window.ends, kind, limit) for kind, limit, window in active if window.used >= limit]
        if exhausted:
            # Several spent at once: the client must wait for the last of them to reopen.
            ends, kind, limit = max(exhausted)
            return self._refusal(kind, limit, ends, now)
        for _, _, window in active:
            window.used += 1
        if not active or active[0][0] != API_CALLS:
            # No ordinary limit: still say so, as a budget no client can spend.
            limit, window = UNLIMITED_CALLS, self._window(group, "unlimited", MINUTE, now)
            window.used += 1
        else:
            _, limit, window = active[0]  # the ordinary budget, which every call spends
        return Verdict(
            True,
            [
                (b"x-rate-limit-limit", str(limit).encode()),
                (b"x-rate-limit-remaining", str(limit - window.used).encode()),
            ],
        )

    def _refusal(self, kind: str, limit: int, ends: float, now: float) -> Verdict:
        clock = self.clock
        wait = clock.real_seconds(ends - now)
        retry_at = clock.real_at(ends)
        if clock.scale == 1:
            retry_after: float = max(1, math.ceil(wait))
            retry, after = str(math.ceil(retry_at)), str(retry_after)
        else:
            # A whole real second is many emulated minutes: keep the milliseconds.
            retry_after = max(0.001, round(wait, 3))
            retry, after = f"{retry_at:.3f}", f"{retry_after:.3f}"
        headers = [
            (b"retry-after", after.encode()),
            (b"x-rate-limit-limit", str(limit).encode()),
            (b"x-rate-limit-remaining", b"0"),
            (b"x-rate-limit-retry", retry.encode()),
            (b"x-rate-limit-type", kind.encode()),
        ]
        return Verdict(False, headers, kind, retry_after)

    def _window(self, group: str, kind: str, length: float, now: float) -> _Window:
        window = self.windows.get((group, kind))
        if window is None or now >= window.ends:
            if self.window_seconds is not None:
                ends = now + self.window_seconds * self.clock.scale
            elif kind == API_CALLS_CYCLE:
                ends = cycle_end(now)
            else:
                ends = window_end(now, length)
            window = self.windows[(group, kind)] = _Window(ends)
        return window
