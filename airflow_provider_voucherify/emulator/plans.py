"""Voucherify plans as numbers: calls per window, bulk calls per hour, calls per billing cycle.

The presets follow Voucherify's published limits guide and fair use policy (see the project's
``docs/plans-and-limits.md``). Windows are calendar periods: a limit of 100 calls per hour resets
at the top of every hour, not 60 minutes after the first call. The current Business and
Organization plans publish no bulk limit, so their presets have none; give one with
``--bulk-calls-per-hour``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MINUTE = 60.0
HOUR = 3600.0


@dataclass(frozen=True)
class Limits:
    """One plan's limits; 0 means no limit of that kind.

    :param api_calls: ordinary calls per ``api_window`` seconds (every request, bulk ones too)
    :param api_window: ``MINUTE`` or ``HOUR``
    :param bulk_api_calls: bulk calls (``POST /v1/orders/import``, ``POST /v1/customers/bulk/async``)
        per hour
    :param cycle_calls: calls per billing cycle (a calendar month, UTC)
    :param cycle_counts_bulk: whether bulk calls count against ``cycle_calls`` (legacy plans: no)
    """

    api_calls: int = 0
    api_window: float = MINUTE
    bulk_api_calls: int = 0
    cycle_calls: int = 0
    cycle_counts_bulk: bool = False

    def overridden(
        self,
        *,
        per_minute: int | None = None,
        per_hour: int | None = None,
        bulk_per_hour: int | None = None,
        per_cycle: int | None = None,
    ) -> Limits:
        """These limits with any explicitly given number replacing the preset's (0 turns it off)."""
        limits = self
        if per_minute is not None:
            limits = replace(limits, api_calls=per_minute, api_window=MINUTE)
        if per_hour is not None:
            limits = replace(limits, api_calls=per_hour, api_window=HOUR)
        if bulk_per_hour is not None:
            limits = replace(limits, bulk_api_calls=bulk_per_hour)
        if per_cycle is not None:
            limits = replace(limits, cycle_calls=per_cycle)
        return limits

    def describe(self) -> dict[str, object]:
        return {
            "api_calls": self.api_calls,
            "api_window_seconds": self.api_window,
            "bulk_api_calls_per_hour": self.bulk_api_calls,
            "api_calls_per_cycle": self.cycle_calls,
            "cycle_counts_bulk": self.cycle_counts_bulk,
        }


PLANS: dict[str, Limits] = {
    "unlimited": Limits(),
    # Every account's Sandbox project: fixed, whatever the account's plan.
    "sandbox": Limits(api_calls=100, api_window=HOUR, bulk_api_calls=1),
    # Legacy plans: hourly windows; bulk calls do not count against the billing cycle.
    "free": Limits(api_calls=100, api_window=HOUR, bulk_api_calls=1, cycle_calls=500),
    "startup": Limits(api_calls=1000, api_window=HOUR, bulk_api_calls=10, cycle_calls=10_000),
    "growth": Limits(api_calls=2000, api_window=HOUR, bulk_api_calls=20, cycle_calls=30_000),
    "professional": Limits(api_calls=5000, api_window=HOUR, bulk_api_calls=50, cycle_calls=100_000),
    # Current pricing: per-minute windows; bulk limit not published.
    "business": Limits(api_calls=100, api_window=MINUTE, cycle_calls=100_000, cycle_counts_bulk=True),
    "organization": Limits(api_calls=2000, api_window=MINUTE, cycle_calls=300_000, cycle_counts_bulk=True),
}
DEFAULT_PLAN = "unlimited"


def plan_limits(name: str) -> Limits:
    """The preset called ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return PLANS[name]
    except KeyError:
        raise ValueError(f"unknown plan {name!r}; choose one of {', '.join(PLANS)}") from None
