"""The wait engine: is a set of async actions (order imports) finished, and did it succeed?

==================  ==========================================================================
module              idea
==================  ==========================================================================
``verdict``         the one pure function deciding whether waiting is over (:func:`evaluate`)
``tracker``         what is known of the actions, and the calls one poll cycle needs
``pacing``          how soon the next poll may come (call budget) and is worth it (progress)
``planner``         the I/O-free wait: poll, sleep, back off, give up at the deadline
``runners``         the sync and async drivers of the plans: the only code that calls a client
``shared_reads``    the triggers of one connection in one event loop share their list reads
``exports``         the wait for exports (``GET /v1/exports/{id}``): its planner and runners
==================  ==========================================================================

Nothing here imports Airflow: the sensor, the trigger and the operator's wait hand in a client
(``VoucherifyHook`` satisfies :class:`~.runners.ActionReader`), a logger, a clock and a sleep.
The names below were this module's before it became a package, and stay importable from here.
"""

from __future__ import annotations

from airflow_provider_voucherify.waiting.planner import (
    MAX_IDLE_INTERVALS,
    MAX_POLL_GAP,
    Poll,
    Polled,
    Sleep,
    Step,
    WaitPolicy,
    plan_waiting,
)
from airflow_provider_voucherify.waiting.runners import await_until_finished, wait_until_finished, within

__all__ = [
    "MAX_IDLE_INTERVALS",
    "MAX_POLL_GAP",
    "Poll",
    "Polled",
    "Sleep",
    "Step",
    "WaitPolicy",
    "await_until_finished",
    "plan_waiting",
    "wait_until_finished",
    "within",
]
