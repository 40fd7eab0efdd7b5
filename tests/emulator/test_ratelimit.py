"""Rate limits like the API's: ``X-Rate-Limit-*`` headers, 429 with ``Retry-After``."""

from __future__ import annotations

import math
import time
from pathlib import Path

import httpx
import pytest

from airflow_provider_voucherify.emulator.clock import EmulatedClock
from airflow_provider_voucherify.emulator.plans import MINUTE, Limits
from airflow_provider_voucherify.emulator.ratelimit import UNLIMITED_CALLS, RateLimiter
from airflow_provider_voucherify.emulator.testing import EmulatorError, EmulatorServer
from tests.emulator.helpers import order


def test_api_calls_limit_and_headers(emulator: EmulatorServer) -> None:
    emulator.set_faults(rate_limit_per_minute=3)
    emulator.advance_clock(to_top_of=60)  # four calls in one calendar minute, however slow
    with emulator.client() as client:
        answers = [client.get("/v1/async-actions") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer.headers["x-rate-limit-remaining"] for answer in answers] == ["2", "1", "0", "0"]
    assert {answer.headers["x-rate-limit-limit"] for answer in answers} == {"3"}
    limited = answers[-1]
    retry_after = int(limited.headers["retry-after"])
    assert 1 <= retry_after <= 60
    retry_at = int(limited.headers["x-rate-limit-retry"])
    emulated, real = emulator.clock()
    # A calendar minute: the window reopens at the top of the next (emulated) minute, given in real time.
    assert retry_at == pytest.approx(real + math.ceil(emulated / 60) * 60 - emulated, abs=1)
    assert abs(retry_at - (time.time() + retry_after)) <= 2
    assert limited.headers["x-rate-limit-type"] == "api_calls"
    body = limited.json()
    assert (body["code"], body["key"]) == (429, "too_many_requests")
    assert body["request_id"].startswith("v-")
    assert emulator.stats()["requests"]["GET /v1/async-actions"] == {"200": 3, "429": 1}


def test_bulk_calls_limit_imports_only(emulator: EmulatorServer) -> None:
    emulator.set_faults(bulk_calls_per_hour=1)
    emulator.advance_clock(to_top_of=3600)
    with emulator.client() as client:
        assert client.post("/v1/orders/import", json=[order("bulk-1")]).status_code == 200
        limited = client.post("/v1/orders/import", json=[order("bulk-2")])
        assert client.get("/v1/async-actions").status_code == 200
    assert limited.status_code == 429
    assert limited.headers["x-rate-limit-type"] == "bulk_api_calls"
    assert 1 <= int(limited.headers["retry-after"]) <= 3600
    emulated, real = emulator.clock()  # the top of the next hour, given in real time:
    reopens = real + math.ceil(emulated / 3600) * 3600 - emulated
    assert int(limited.headers["x-rate-limit-retry"]) == pytest.approx(reopens, abs=1)
    assert emulator.stats()["imports_accepted"] == 1


def test_limit_resets_after_retry_after(emulator: EmulatorServer) -> None:
    emulator.set_faults(rate_limit_per_minute=1, retry_after_seconds=1)
    with emulator.client() as client:
        assert client.get("/v1/async-actions").status_code == 200
        limited = client.get("/v1/async-actions")
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "1"
        deadline = time.monotonic() + 5
        while (status := client.get("/v1/async-actions").status_code) == 429 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status == 200


def test_every_answer_carries_the_limit_headers_even_without_a_plan(emulator: EmulatorServer) -> None:
    # The API documents X-Rate-Limit-Limit and -Remaining on every answer; the unlimited plan
    # (the default) says so as a per-minute budget no client can spend.
    with emulator.client() as client:
        answers = [client.get("/v1/async-actions"), client.post("/v1/orders/import", json=[])]
    limits = {answer.headers["x-rate-limit-limit"] for answer in answers}
    assert limits == {str(UNLIMITED_CALLS)}
    remaining = [int(answer.headers["x-rate-limit-remaining"]) for answer in answers]
    assert remaining[0] < UNLIMITED_CALLS
    assert remaining[1] in (remaining[0] - 1, UNLIMITED_CALLS - 1)  # the minute may turn between


def test_without_an_ordinary_limit_calls_are_counted_per_minute_and_never_refused() -> None:
    now = [1000.0]
    limiter = RateLimiter(EmulatedClock(real=lambda: now[0]))
    limiter.configure(Limits(bulk_api_calls=1))  # a bulk limit only
    seen = [dict(limiter.check("a", is_bulk=False).headers) for _ in range(3)]
    assert [h[b"x-rate-limit-remaining"] for h in seen] == [
        str(UNLIMITED_CALLS - n).encode() for n in (1, 2, 3)
    ]
    assert limiter.check("a", is_bulk=True).allowed
    now[0] = 1020.0  # the top of the next minute: the count starts again
    assert (
        dict(limiter.check("a", is_bulk=False).headers)[b"x-rate-limit-remaining"]
        == str(UNLIMITED_CALLS - 1).encode()
    )


def test_a_moved_clock_reopens_windows_and_answers_in_real_time(emulator: EmulatorServer) -> None:
    emulator.set_faults(bulk_calls_per_hour=1)
    start = emulator.advance_clock(to_top_of=3600)
    assert start % 3600 < 5  # the start of an emulated hour (less the few seconds since)
    with emulator.client() as client:
        assert client.post("/v1/orders/import", json=[order("moved-1")]).status_code == 200
        limited = client.post("/v1/orders/import", json=[order("moved-2")])
        assert limited.status_code == 429
        # The window reopens at the next emulated hour, given in real time: the skip is not real.
        emulated, real = emulator.clock()
        reopens = int(limited.headers["x-rate-limit-retry"])
        assert reopens == pytest.approx(real + math.ceil(emulated / 3600) * 3600 - emulated, abs=1)
        assert emulator.advance_clock(3599) >= start + 3599
        emulator.advance_clock(to_top_of=3600)
        assert client.post("/v1/orders/import", json=[order("moved-2")]).status_code == 200
        # Two emulated minutes before the end of the next hour: its one call taken, the next refused
        # with the window's last two minutes (and the few seconds since the move) to wait.
        before = emulator.clock()[0]
        moved = emulator.advance_clock_to_window_end(120)
        assert moved % 3600 == pytest.approx(3600 - 120, abs=5)
        assert moved // 3600 > before // 3600
        assert client.post("/v1/orders/import", json=[order("moved-3")]).status_code == 200
        refused = client.post("/v1/orders/import", json=[order("moved-4")])
        assert 0 < float(refused.headers["retry-after"]) <= 120
    with pytest.raises(EmulatorError, match="within the window"):
        emulator.advance_clock_to_window_end(3601)
    with httpx.Client(base_url=emulator.url) as raw:
        assert raw.post("/_emulator/clock", json={"advance": -1}).status_code == 422
        assert raw.post("/_emulator/clock", json={"to_top_of": 0}).status_code == 422
        assert raw.post("/_emulator/clock", content=b'{"advance": NaN}').status_code == 422
        assert raw.post("/_emulator/clock", json={"forward": 60}).status_code == 422
        assert raw.get("/_emulator/clock").json()["skipped"] > 3599
    emulator.reset()  # forgets every count, and the moves with them
    assert emulator.clock()[0] == pytest.approx(time.time(), abs=1)


def test_limit_flags_apply_and_survive_reset(tmp_path: Path) -> None:
    with EmulatorServer(
        tmp_path, rate_limit_per_minute=2, bulk_calls_per_hour=5, orders_per_second=0
    ) as server:
        for _ in range(2):
            server.advance_clock(to_top_of=60)  # three calls in one calendar minute, however slow
            with server.client() as client:
                assert [client.get("/v1/orders").status_code for _ in range(3)] == [200, 200, 429]
            server.reset()
        with httpx.Client(base_url=server.url) as raw:
            effective = raw.get("/_emulator/faults").json()["effective_rate_limits"]
        assert (effective["api_calls"], effective["api_window_seconds"]) == (2, 60)
        assert effective["bulk_api_calls_per_hour"] == 5


def test_limits_count_per_organization_and_refusals_consume_nothing() -> None:
    now = [1000.0]
    limiter = RateLimiter(EmulatedClock(real=lambda: now[0]))
    limiter.configure(Limits(api_calls=2, api_window=MINUTE, bulk_api_calls=1))
    limiter.configure_projects({"a": "org", "b": "org", "c": "other"}, {})
    assert limiter.check("a", is_bulk=True).allowed
    assert not limiter.check("b", is_bulk=True).allowed  # the organization's bulk budget is spent
    assert limiter.check("b", is_bulk=False).allowed  # the refusal consumed no ordinary call
    assert not limiter.check("a", is_bulk=False).allowed
    assert limiter.check("c", is_bulk=False).allowed  # another organization
    now[0] = 1020.0  # the top of the next minute
    assert limiter.check("a", is_bulk=False).allowed
    assert not limiter.check("a", is_bulk=True).allowed  # the hour is not over
