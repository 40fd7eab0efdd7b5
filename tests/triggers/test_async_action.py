"""AsyncActionTrigger: serialization, deadline, transient errors and its single event, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from importlib.metadata import version
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent
from packaging.version import Version

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.triggers.async_action import CLASSPATH, AsyncActionTrigger
from airflow_provider_voucherify.waiting import MAX_IDLE_INTERVALS, pacing
from airflow_provider_voucherify.waiting.verdict import Outcome, Verdict
from tests.waiting.emulators import (  # noqa: F401
    bad_order,
    order,
    point_connection,
    queue_imports,
    requests,
    slow_emulator,
    slow_emulator_server,
)


def make_trigger(ids: list[str], *, seconds: float = 60, **kwargs: Any) -> AsyncActionTrigger:
    return AsyncActionTrigger(
        async_action_ids=ids,
        voucherify_conn_id="voucherify_default",
        poll_interval=kwargs.pop("poll_interval", 0.05),
        end_time=time.time() + seconds,
        **kwargs,
    )


def run_to_end(trigger: AsyncActionTrigger) -> list[TriggerEvent]:
    """Every event the trigger yields until its generator ends."""

    async def collect() -> list[TriggerEvent]:
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


def only_verdict(events: list[TriggerEvent]) -> Verdict:
    assert len(events) == 1, events
    return Verdict.from_event(events[0].payload)


def test_serialize_gives_the_classpath_and_primitive_kwargs() -> None:
    trigger = AsyncActionTrigger(["aa_1", "aa_2"], "my_conn", 15, 1_900_000_000.5, max_failed_orders=3)

    classpath, kwargs = trigger.serialize()

    assert classpath == CLASSPATH == f"{AsyncActionTrigger.__module__}.{AsyncActionTrigger.__name__}"
    assert kwargs == {
        "async_action_ids": ["aa_1", "aa_2"],
        "voucherify_conn_id": "my_conn",
        "poll_interval": 15.0,
        "end_time": 1_900_000_000.5,
        "max_failed_orders": 3,
        "api_budget_share": 0.2,
    }
    assert json.loads(json.dumps(kwargs)) == kwargs


def test_a_trigger_rebuilt_from_its_serialized_form_keeps_its_deadline() -> None:
    original = make_trigger(["aa_1"], seconds=3600, max_failed_orders=2)
    _, kwargs = original.serialize()

    # As a triggerer in another process would: from the stored JSON, some time later.
    rebuilt = AsyncActionTrigger(**json.loads(json.dumps(kwargs)))
    again = AsyncActionTrigger(**rebuilt.serialize()[1])

    assert again.end_time == rebuilt.end_time == original.end_time
    assert again.serialize() == original.serialize()


def test_waiting_on_queued_imports_ends_with_one_success_event(slow_emulator: EmulatorServer) -> None:  # noqa: F811
    ids = queue_imports(3)

    verdict = only_verdict(run_to_end(make_trigger(ids)))

    assert verdict.status is Outcome.SUCCESS, verdict.message
    assert verdict.summary is not None
    assert (verdict.summary.actions, verdict.summary.done_count) == (ids, 30)


def test_transient_errors_are_retried_inside_the_trigger(
    slow_emulator: EmulatorServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = queue_imports(3)
    # No retries in the hook: every 5xx and dropped answer reaches the trigger's own loop.
    point_connection(monkeypatch, slow_emulator, max_retries=0)
    slow_emulator.set_faults(error_rate=0.3, error_statuses=[500, 502, 503], drop_rate=0.1, seed=7)

    verdict = only_verdict(run_to_end(make_trigger(ids)))

    assert verdict.status is Outcome.SUCCESS, verdict.message
    failures = sum(
        n
        for counts in slow_emulator.stats()["requests"].values()
        for status, n in counts.items()
        if status.startswith("5")
    )
    assert failures > 0, "the faults should have been met"


def test_rate_limiting_is_waited_out_inside_the_trigger(
    slow_emulator: EmulatorServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = queue_imports(2)
    point_connection(monkeypatch, slow_emulator, max_retries=0)
    # One call per one-second window: a poll that reads a result after its list call meets a 429.
    slow_emulator.set_faults(rate_limit_per_minute=1, retry_after_seconds=1)
    # The fault's windows last a second, not a plan's minute or hour: tell the polling budget.
    monkeypatch.setattr(pacing, "ASSUMED_WINDOW", 1.0)

    trigger = make_trigger(ids, seconds=120, poll_interval=0.2, api_budget_share=1.0)
    verdict = only_verdict(run_to_end(trigger))

    assert verdict.status is Outcome.SUCCESS, verdict.message
    limited = sum(counts.get("429", 0) for counts in slow_emulator.stats()["requests"].values())
    assert limited > 0, "the rate limit should have been met"


def test_the_trigger_keeps_its_polls_within_its_share_of_the_budget(
    slow_emulator: EmulatorServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = queue_imports(2)
    point_connection(monkeypatch, slow_emulator, max_retries=0)
    slow_emulator.set_faults(rate_limit_per_minute=10, retry_after_seconds=1)
    monkeypatch.setattr(pacing, "ASSUMED_WINDOW", 1.0)

    verdict = only_verdict(run_to_end(make_trigger(ids, seconds=120, poll_interval=0.05)))

    assert verdict.status is Outcome.SUCCESS, verdict.message
    limited = sum(counts.get("429", 0) for counts in slow_emulator.stats()["requests"].values())
    assert limited == 0, "paced to 20% of 10 calls a second, the wait never met the limit"


def test_the_deadline_ends_the_wait_with_one_timeout_event(slow_emulator: EmulatorServer) -> None:  # noqa: F811
    ids = queue_imports(2, orders_each=2000)  # 100 s of work at the emulator's speed: never done in time

    started = time.monotonic()
    verdict = only_verdict(run_to_end(make_trigger(ids, seconds=1)))

    assert verdict.status is Outcome.TIMEOUT
    assert time.monotonic() - started < 30  # the deadline, not the 100 s of work, ended it
    assert "0 of 2 async actions finished" in verdict.message or "1 of 2" in verdict.message


def test_a_trigger_rebuilt_after_its_deadline_times_out_at_once(slow_emulator: EmulatorServer) -> None:  # noqa: F811
    ids = queue_imports(1)
    _, kwargs = make_trigger(ids, seconds=-1).serialize()

    verdict = only_verdict(run_to_end(AsyncActionTrigger(**kwargs)))

    assert verdict.status is Outcome.TIMEOUT
    assert requests(slow_emulator, "GET /v1/async-actions/{id}") == 0


def test_a_failed_action_ends_with_one_failed_event(slow_emulator: EmulatorServer) -> None:  # noqa: F811
    slow_emulator.set_faults(fail_imports=1)
    ids = queue_imports(1)

    verdict = only_verdict(run_to_end(make_trigger(ids)))

    assert verdict.status is Outcome.FAILED
    assert ids[0] in verdict.message
    assert "request_id=v-" in verdict.message


def test_an_unknown_action_ends_with_one_error_event_without_the_token(
    slow_emulator: EmulatorServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        events = run_to_end(make_trigger(["aa_does_not_exist"]))
    verdict = only_verdict(events)

    assert verdict.status is Outcome.ERROR
    assert "404" in verdict.message
    assert slow_emulator.app_token not in json.dumps(events[0].payload)
    assert slow_emulator.app_token not in caplog.text


def test_a_missing_connection_ends_with_one_error_event() -> None:
    trigger = AsyncActionTrigger(["aa_1"], "voucherify_no_such_conn", 0.05, time.time() + 30)

    verdict = only_verdict(run_to_end(trigger))

    assert verdict.status is Outcome.ERROR
    # Airflow 3.1 outside a triggerer cannot look a connection up at all (no supervisor to ask).
    if Version(version("apache-airflow")) >= Version("3.2"):
        assert "voucherify_no_such_conn" in verdict.message


def test_a_done_import_with_too_many_failed_orders_ends_with_one_failed_event(
    slow_emulator: EmulatorServer,  # noqa: F811
) -> None:
    from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook

    hook = VoucherifyHook()
    action_id = hook.import_orders([order("good-1"), bad_order("bad-1"), bad_order("bad-2")])
    hook.close()

    verdict = only_verdict(run_to_end(make_trigger([action_id], max_failed_orders=1)))

    assert verdict.status is Outcome.FAILED
    assert "2 orders failed" in verdict.message
    assert "source_id=bad-1: Cannot find product" in verdict.message


def test_within_returns_the_result_or_times_out_and_cancels() -> None:
    from airflow_provider_voucherify.waiting import within

    async def scenario() -> None:
        assert await within(asyncio.sleep(0, result="done"), 1) == "done"
        slow = asyncio.ensure_future(asyncio.sleep(10))
        with pytest.raises(asyncio.TimeoutError):
            await within(slow, 0.01)
        assert slow.cancelled()

    asyncio.run(scenario())


@pytest.mark.parametrize("use_within", [True, False], ids=["within", "wait_for"])
def test_a_cancellation_racing_a_finished_poll_is_not_swallowed(use_within: bool) -> None:
    """The triggerer cancels a trigger just as a poll completes: the trigger must stop."""
    import sys

    from airflow_provider_voucherify.waiting import within

    if not use_within and sys.version_info >= (3, 12):
        pytest.skip("asyncio.wait_for no longer swallows this cancellation on Python 3.12+")

    async def scenario() -> bool:
        poll: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        guard = within(poll, 10) if use_within else asyncio.wait_for(poll, 10)
        waiting = asyncio.ensure_future(guard)
        await asyncio.sleep(0)
        poll.set_result("verdict")
        waiting.cancel()
        try:
            await waiting
        except asyncio.CancelledError:
            return True
        return False

    # `within` lets the cancellation through; wait_for (3.10/3.11) swallows it: the reason for `within`.
    assert asyncio.run(scenario()) is use_within


class FakeClock:
    """The trigger's ``clock`` and ``sleep`` seams: sleeping moves this clock at once, and is recorded."""

    def __init__(self) -> None:
        self.now = time.time()
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def on_fake_clock(trigger: AsyncActionTrigger, clock: FakeClock) -> AsyncActionTrigger:
    trigger.clock, trigger.sleep = clock.time, clock.sleep
    return trigger


def test_the_deadline_is_kept_on_the_trigger_clock_without_waiting_for_it(
    slow_emulator: EmulatorServer,  # noqa: F811
) -> None:
    slow_emulator.set_faults(hold_imports=True)  # queued for good: only the deadline ends the wait
    ids = queue_imports(2)
    clock = FakeClock()
    trigger = on_fake_clock(make_trigger(ids, poll_interval=30), clock)
    trigger.end_time = clock.now + 6 * 3600

    started = time.monotonic()
    verdict = only_verdict(run_to_end(trigger))

    assert verdict.status is Outcome.TIMEOUT, verdict.message
    assert "Gave up waiting after 21600 s" in verdict.message
    assert clock.now == pytest.approx(trigger.end_time)
    assert time.monotonic() - started < 30, "six hours of waiting ran on the fake clock"
    # Nothing moved: the gaps doubled from poll_interval up to MAX_IDLE_INTERVALS of them.
    assert [round(s) for s in clock.sleeps[:6]] == [30, 60, 120, 240, 480, 480]
    assert max(clock.sleeps) == pytest.approx(30 * MAX_IDLE_INTERVALS)
    assert requests(slow_emulator, "GET /v1/async-actions") < 6 * 3600 / 30 / 4


def test_transient_errors_back_off_doubling_on_the_trigger_clock(
    slow_emulator: EmulatorServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = queue_imports(2)
    point_connection(monkeypatch, slow_emulator, max_retries=0)
    slow_emulator.set_faults(error_rate=1.0, error_statuses=[503])
    clock = FakeClock()
    trigger = on_fake_clock(make_trigger(ids, poll_interval=30), clock)
    trigger.end_time = clock.now + 3600

    verdict = only_verdict(run_to_end(trigger))

    assert verdict.status is Outcome.TIMEOUT, verdict.message
    # 30 s, then doubling while nothing gets through, up to MAX_ERROR_BACKOFF (300 s); the last
    # sleep ends at the deadline.
    assert [round(s) for s in clock.sleeps[:5]] == [30, 60, 120, 240, 300]
    assert all(round(s) <= 300 for s in clock.sleeps)


def test_a_rate_limit_is_waited_out_until_its_window_reopens_on_the_trigger_clock(
    slow_emulator: EmulatorServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = queue_imports(3, orders_each=1)
    wait_for_actions(slow_emulator, ids)
    # A 429 raises at once (the hook does not sleep on it): the trigger's planner waits.
    point_connection(monkeypatch, slow_emulator, max_retries=0, max_rate_limit_wait=0)
    slow_emulator.set_faults(rate_limit_per_minute=1, retry_after_seconds=45)
    monkeypatch.setattr(pacing, "ASSUMED_WINDOW", 60.0)  # the fault's window is a minute
    clock = FakeClock()

    async def sleep_then_reopen(seconds: float) -> None:
        await clock.sleep(seconds)
        if seconds >= 40:  # the planner slept until the window reopens: let the API answer again
            slow_emulator.clear_faults()

    trigger = make_trigger(ids, poll_interval=30, api_budget_share=1.0)
    trigger.clock, trigger.sleep = clock.time, sleep_then_reopen
    trigger.end_time = clock.now + 3600

    verdict = only_verdict(run_to_end(trigger))

    assert verdict.status is Outcome.SUCCESS, verdict.message
    # It slept past the window's reopening (45 s), on its own clock, then read every result.
    assert clock.sleeps, "it never slept"
    assert clock.sleeps[0] >= 45, clock.sleeps
    assert sum(counts.get("429", 0) for counts in slow_emulator.stats()["requests"].values()) > 0
