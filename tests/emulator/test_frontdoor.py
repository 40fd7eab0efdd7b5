"""The import workers give way to API requests, but never for longer than the longest pause."""

from __future__ import annotations

import threading

from airflow_provider_voucherify.emulator.frontdoor import FrontDoor


def test_a_worker_waits_while_requests_are_served_and_goes_on_when_the_last_ends() -> None:
    door = FrontDoor(longest_pause=60)
    outcome: list[bool] = []
    worker = threading.Thread(target=lambda: outcome.append(door.wait_until_clear()))
    with door.serving(), door.serving():
        worker.start()
        worker.join(0.2)  # a bounded look: it must still be waiting
        assert worker.is_alive()
    worker.join(10)
    assert outcome == [True]
    assert door.wait_until_clear()  # nothing in flight: no wait at all


def test_a_request_that_never_ends_holds_a_worker_back_only_for_the_longest_pause() -> None:
    door = FrontDoor(longest_pause=0.05)
    with door.serving():
        assert door.wait_until_clear() is False
