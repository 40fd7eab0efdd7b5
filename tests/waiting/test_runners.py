"""The two runners of the waiting planner, against a time-scaled emulator over real HTTP.

The planner's decisions are specified in ``tests/waiting/test_planner.py``; these tests prove that each
runner carries them out: the hook's ``rate_limit`` reaches the budget, and a 429 the hook raises
(``VoucherifyRateLimitError``) is slept through until its window reopens.

The budget test waits in real time: the imports it waits on run at a real pace (the emulator's
import speed is scaled, and moving its clock does not move them). The 429 test waits on imports
already finished, so its runner's sleeps move the emulator's clock instead (:class:`EmulatorTime`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.hooks import voucherify
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.waiting import await_until_finished, pacing, wait_until_finished
from airflow_provider_voucherify.waiting.verdict import Outcome, Verdict
from tests.waiting.emulators import point_connection, queue_imports, requests

SCALE = 600  # emulated seconds per real second: an emulated hour lasts 6 s
HOUR = 3600 / SCALE
ORDERS_PER_HOUR = 100  # emulated: an import of 50 orders takes half an emulated hour
LOG = logging.getLogger("test.waiting.runners")


@pytest.fixture(scope="module")
def scaled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(
        tmp_path_factory.mktemp("scaled-emulator"),
        time_scale=SCALE,
        orders_per_second=ORDERS_PER_HOUR / 3600,
    ) as server:
        yield server


@pytest.fixture
def scaled(scaled_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    scaled_server.reset()
    # A 429 raises at once: the runner, not the hook, waits for the window.
    point_connection(monkeypatch, scaled_server, max_rate_limit_wait=0)
    return scaled_server


def wait(runner: str, ids: list[str], **kwargs: Any) -> Verdict:
    """Wait on ``ids`` with the sync or the async runner and a fresh hook."""
    hook = VoucherifyHook()
    options: dict[str, Any] = {"poll_interval": 30 / SCALE, "timeout": 60, "log": LOG, **kwargs}
    try:
        if runner == "sync":
            return wait_until_finished(hook, ids, **options)

        async def run() -> Verdict:
            try:
                return await await_until_finished(hook, ids, **options)
            finally:
                await hook.aclose()

        return asyncio.run(run())
    finally:
        hook.close()


class EmulatorTime:
    """The wait's time on the emulator's clock: a sleep moves the emulator forward by the emulated
    time it lasts, and this clock (the runner's and the hook's) by as much, so both sides see the
    same time pass, in real seconds, without waiting for it.

    The hook reads the wall clock itself (``time.time()``: when an answer came, when a 429's window
    reopens) and sleeps between its retries (``time.sleep``): :meth:`patch` points both here, or the
    runner would see a 429's moment in its past once the clock moved.
    """

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.skipped = 0.0  # real seconds slept

    def time(self) -> float:
        return time.time() + self.skipped

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)  # the rest of the time module, for the hook

    def sleep(self, seconds: float) -> None:
        self.server.advance_clock(seconds * SCALE)
        self.skipped += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def patch(self, monkeypatch: pytest.MonkeyPatch, runner: str) -> dict[str, Any]:
        """Point the hook's wall clock here; returns the runner's ``clock`` and ``sleep``."""
        monkeypatch.setattr(voucherify, "time", self)
        return {"clock": self.time, "sleep": self.sleep if runner == "sync" else self.asleep}


def limited(server: EmulatorServer) -> int:
    return sum(int(counts.get("429", 0)) for counts in server.stats()["requests"].values())


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_the_runner_paces_its_polls_by_the_budget_the_headers_report(
    runner: str, scaled: EmulatorServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ids = queue_imports(2, orders_each=50)  # an emulated hour of work
    scaled.set_faults(rate_limit_per_hour=10)  # 20% of it: 2 calls per emulated hour
    monkeypatch.setattr(pacing, "ASSUMED_WINDOW", HOUR)

    with caplog.at_level(logging.INFO, logger=LOG.name):
        verdict = wait(runner, ids)

    assert verdict.status is Outcome.SUCCESS, verdict.message
    assert "keeping to 20% of 10 calls per 6 s" in caplog.text
    assert limited(scaled) == 0
    calls = requests(scaled, "GET /v1/async-actions") + requests(scaled, "GET /v1/async-actions/{id}")
    assert calls <= 2 * 2 + 2, "2 calls an emulated hour over about 1.5 hours, plus the 2 result reads"


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_the_runner_sleeps_through_a_429_until_its_window_reopens(
    runner: str, scaled: EmulatorServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ids = queue_imports(5, orders_each=1)
    wait_for_actions(scaled, ids)
    # Two calls per one-second window: reading 5 results in one cycle meets 429s.
    scaled.set_faults(rate_limit_per_minute=2, retry_after_seconds=1)
    monkeypatch.setattr(pacing, "ASSUMED_WINDOW", 1.0)

    with caplog.at_level(logging.INFO, logger=LOG.name):
        verdict = wait(runner, ids, api_budget_share=1.0, **EmulatorTime(scaled).patch(monkeypatch, runner))

    assert verdict.status is Outcome.SUCCESS, verdict.message
    assert verdict.summary is not None
    assert verdict.summary.done_count == 5
    assert limited(scaled) > 0, "the rate limit should have been met"
    assert "rate limited" in caplog.text
    assert "window reopens" in caplog.text
