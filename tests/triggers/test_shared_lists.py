"""Triggers of one connection in one event loop share their list calls: over real HTTP, real asyncio."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.exceptions import VoucherifyApiError, VoucherifyRateLimitError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.triggers.async_action import AsyncActionTrigger
from airflow_provider_voucherify.waiting import pacing
from airflow_provider_voucherify.waiting.shared_reads import ListCoalescer, coalescers
from airflow_provider_voucherify.waiting.tracker import ListPage
from airflow_provider_voucherify.waiting.verdict import Outcome, Verdict
from tests.waiting.emulators import (  # noqa: F401
    ORDERS_PER_SECOND,
    order,
    point_connection,
    queue_imports,
    requests,
    slow_emulator,
    slow_emulator_server,
)

LIST = "GET /v1/async-actions"
GET = "GET /v1/async-actions/{id}"
DEADLINE = 60.0


def trigger(ids: list[str], conn_id: str = "voucherify_default", **kwargs: Any) -> AsyncActionTrigger:
    return AsyncActionTrigger(
        ids, conn_id, kwargs.pop("poll_interval", 0.05), time.time() + DEADLINE, **kwargs
    )


async def verdict_of(trigger: AsyncActionTrigger) -> Verdict:
    events = [event async for event in trigger.run()]
    assert len(events) == 1, events
    return Verdict.from_event(events[0].payload)


Watch = Callable[[list["asyncio.Task[Verdict]"]], Awaitable[None]]


def run_triggers(
    triggers: list[AsyncActionTrigger], watch: Watch | None = None
) -> list[Verdict | BaseException]:
    """Run the triggers in one event loop, as a triggerer does; ``watch`` runs beside them."""

    async def main() -> list[Verdict | BaseException]:
        tasks = [asyncio.create_task(verdict_of(t)) for t in triggers]
        if watch is not None:
            await asyncio.wait_for(watch(tasks), DEADLINE)
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert coalescers() == [], "the last trigger to leave closes its connection's shared reads"
        return outcomes

    return asyncio.run(main())


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def succeeded(outcome: Verdict | BaseException, ids: list[str]) -> bool:
    assert isinstance(outcome, Verdict), outcome
    assert outcome.status is Outcome.SUCCESS, outcome.message
    assert outcome.summary is not None
    return outcome.summary.actions == ids


class Reads:
    """Records every waiter's list request to the coalescers, and what each got."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.asked: list[frozenset[str]] = []
        self.errors: list[tuple[frozenset[str], BaseException]] = []
        self.answers: list[tuple[frozenset[str], set[str]]] = []  # ids asked, ids the answer held
        self.seen: list[ListCoalescer] = []
        read = ListCoalescer.read

        async def recorded(coalescer: ListCoalescer, call: ListPage) -> Any:
            self.asked.append(call.ids)
            if coalescer not in self.seen:
                self.seen.append(coalescer)
            try:
                window = await read(coalescer, call)
            except Exception as exc:
                self.errors.append((call.ids, exc))
                raise
            self.answers.append((call.ids, {action.id for action in window}))
            return window

        monkeypatch.setattr(ListCoalescer, "read", recorded)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    return Reads(monkeypatch)


def test_triggers_of_one_connection_share_their_list_calls(
    slow_emulator: EmulatorServer,  # noqa: F811
    reads: Reads,
) -> None:
    ids = queue_imports(8)
    # A list answer takes a real API's round trip: requests made meanwhile queue for the next read.
    slow_emulator.set_faults(latency_seconds=0.1, paths=["/v1/async-actions"])
    id_sets = [ids[0:3], ids[2:5], ids[5:8], ids, ids[6:8], [ids[7], ids[1]]]

    outcomes = run_triggers([trigger(i) for i in id_sets])

    assert all(succeeded(outcome, i) for outcome, i in zip(outcomes, id_sets, strict=True))
    (coalescer,) = reads.seen
    assert requests(slow_emulator, LIST) == coalescer.calls
    # The list calls that went out, against every trigger's list call of every cycle (about half
    # here: the triggers' plans drift apart as their actions finish at different times).
    assert coalescer.calls * 4 <= len(reads.asked) * 3, (coalescer.calls, len(reads.asked))


def test_a_lone_trigger_makes_the_calls_it_makes_alone(
    slow_emulator: EmulatorServer,  # noqa: F811
    reads: Reads,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fetched: list[tuple[str, str]] = []  # (id, status answered) of every GET by id
    fetch = VoucherifyHook.aget_async_action

    async def recorded(hook: VoucherifyHook, async_action_id: str) -> Any:
        action = await fetch(hook, async_action_id)
        fetched.append((async_action_id, action.status))
        return action

    monkeypatch.setattr(VoucherifyHook, "aget_async_action", recorded)
    ids = queue_imports(3)

    (outcome,) = run_triggers([trigger(ids)])

    assert succeeded(outcome, ids)
    (coalescer,) = reads.seen
    # One list call per cycle, each its own read: no extra page, nothing waited for.
    assert requests(slow_emulator, LIST) == coalescer.calls == coalescer.reads == len(reads.asked)
    # Every read held every id it was asked for: no GET stands in for what a read did not reach.
    assert all(asked <= held for asked, held in reads.answers), reads.answers
    assert requests(slow_emulator, GET) == len(fetched)
    # So the GETs are the tracker's own: each action's result read once it is final and, once a
    # single action is left unfinished (the queue runs them in order: the last), its own polls.
    assert sorted(i for i, status in fetched if status == "DONE") == sorted(ids), fetched
    assert {i for i, status in fetched if status != "DONE"} <= {ids[-1]}, fetched


def test_without_share_list_calls_each_trigger_lists_on_its_own(
    slow_emulator: EmulatorServer,  # noqa: F811
    reads: Reads,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    point_connection(monkeypatch, slow_emulator, share_list_calls=False)
    ids = queue_imports(4)

    outcomes = run_triggers([trigger(ids[:2]), trigger(ids[2:])])

    assert succeeded(outcomes[0], ids[:2])
    assert succeeded(outcomes[1], ids[2:])
    assert reads.asked == []
    assert requests(slow_emulator, LIST) > 0


def test_cancelling_one_trigger_mid_read_leaves_the_others_waiting(
    slow_emulator: EmulatorServer,  # noqa: F811
    reads: Reads,
) -> None:
    ids = queue_imports(6)
    slow_emulator.set_faults(latency_seconds=0.3, paths=["/v1/async-actions"])  # the list only
    clients: list[httpx.AsyncClient] = []

    async def cancel_the_first(tasks: list[asyncio.Task[Verdict]]) -> None:
        # The read's task opens the shared client once it runs (later than it is created, on a slow
        # machine): wait for both (`until` fails the test if they never come).
        await until(
            lambda: (
                len(reads.asked) >= 3
                and reads.seen[0]._task is not None
                and reads.seen[0].hook._async_client is not None
            )
        )
        coalescer = reads.seen[0]
        assert coalescer.hook._async_client is not None
        clients.append(coalescer.hook._async_client)
        tasks[0].cancel()

    outcomes = run_triggers([trigger(ids[0:2]), trigger(ids[2:4]), trigger(ids[4:6])], cancel_the_first)

    assert isinstance(outcomes[0], asyncio.CancelledError)
    assert succeeded(outcomes[1], ids[2:4])
    assert succeeded(outcomes[2], ids[4:6])
    assert clients[0].is_closed
    assert reads.seen[0].hook._async_client is None


@pytest.fixture
def slow_emulator_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """Like ``slow_emulator``, for a test that leaves a request in flight: the emulator answers its
    cancelled read 30 s later, and while a request is in flight its import workers pause before
    each chunk (``FrontDoor``), so the shared emulator's next tests would wait on imports running at
    a fraction of their speed (measured: the error tests below, run next, took 14 s each, not 2 to 4)."""
    with EmulatorServer(tmp_path, orders_per_second=ORDERS_PER_SECOND) as server:
        point_connection(monkeypatch, server)
        yield server
        server.kill()  # a graceful shutdown would wait for the read in flight


def test_the_last_trigger_cancelled_mid_read_closes_the_shared_client(
    slow_emulator_of_its_own: EmulatorServer,
    reads: Reads,
) -> None:
    ids = queue_imports(2)
    slow_emulator_of_its_own.set_faults(latency_seconds=30, paths=["/v1/async-actions"])
    clients: list[httpx.AsyncClient] = []

    async def cancel_mid_read(tasks: list[asyncio.Task[Verdict]]) -> None:
        await until(lambda: bool(reads.seen) and reads.seen[0]._task is not None)
        await until(lambda: reads.seen[0].hook._async_client is not None)
        clients.append(reads.seen[0].hook._async_client)  # type: ignore[arg-type]
        tasks[0].cancel()

    started = time.monotonic()
    (outcome,) = run_triggers([trigger(ids)], cancel_mid_read)

    assert isinstance(outcome, asyncio.CancelledError)
    assert time.monotonic() - started < 20, "the read in flight was cancelled, not awaited"
    assert clients[0].is_closed


@pytest.mark.parametrize("fault", ["5xx", "429"])
def test_an_error_of_a_shared_read_reaches_every_waiter_and_they_recover(
    slow_emulator: EmulatorServer,  # noqa: F811
    reads: Reads,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    point_connection(monkeypatch, slow_emulator, max_retries=0)
    monkeypatch.setattr(pacing, "ASSUMED_WINDOW", 1.0)  # the fault's windows last a second
    ids = queue_imports(8)
    # Slow lists (a real API's round trip), so that the waiters' requests queue for the same reads;
    # list calls fail (all, or all but one a second for the 429) until the fault is lifted, and the
    # imports stay queued until then (hold_imports): with the imports done first, the waiters could
    # finish before their paced reads ever met a refusal (3 of 8 runs on a loaded machine).
    slow = {"latency_seconds": 0.2, "paths": ["/v1/async-actions"], "hold_imports": True}
    if fault == "5xx":
        slow_emulator.set_faults(error_rate=1.0, error_statuses=[503], **slow)
    else:
        slow_emulator.set_faults(rate_limit_per_minute=1, retry_after_seconds=1, **slow)
    expected = VoucherifyApiError if fault == "5xx" else VoucherifyRateLimitError
    id_sets = [ids[n : n + 2] for n in range(0, 8, 2)]

    async def lift_the_fault(tasks: list[asyncio.Task[Verdict]]) -> None:
        # For the 5xx: until one failed read's error has reached several waiters, and each waiter
        # had one. The 429 lets one call a second through, and the waiters' budget pacing spreads
        # their reads, so which reads it refuses is timing: until one was refused.
        def met() -> bool:
            if fault == "429":
                return bool(reads.errors)
            errors = Counter(id(exc) for _, exc in reads.errors)
            everyone = {c for c, _ in reads.errors} == set(map(frozenset, id_sets))
            return everyone and max(errors.values(), default=0) >= 2

        await until(met)
        slow_emulator.clear_faults()

    outcomes = run_triggers([trigger(i, api_budget_share=1.0) for i in id_sets], lift_the_fault)

    assert all(succeeded(outcome, i) for outcome, i in zip(outcomes, id_sets, strict=True))
    failed_lists = int(slow_emulator.stats()["requests"][LIST].get("503" if fault == "5xx" else "429", 0))
    assert failed_lists > 0
    assert all(isinstance(exc, expected) for _, exc in reads.errors)
    if fault == "429":
        assert all(exc.retry_at for _, exc in reads.errors)  # type: ignore[attr-defined]
    # Each failed read answered the waiters queued for it with its one error.
    assert len({id(exc) for _, exc in reads.errors}) == failed_lists
    if fault == "5xx":
        assert len(reads.errors) > failed_lists


@pytest.fixture(scope="module")
def two_projects(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    directory = tmp_path_factory.mktemp("two-projects")
    projects = directory / "projects.json"
    projects.write_text(
        json.dumps([{"app_id": "one", "app_token": "t1"}, {"app_id": "two", "app_token": "t2"}])
    )
    with EmulatorServer(
        directory,
        app_id="one",
        app_token="t1",
        projects_file=Path(projects),
        orders_per_second=ORDERS_PER_SECOND,
    ) as server:
        yield server


def test_triggers_of_different_projects_never_share_a_read(
    two_projects: EmulatorServer, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_projects.reset()
    for name, token in (("one", "t1"), ("two", "t2")):
        conn = {"conn_type": "voucherify", "host": two_projects.url, "login": name, "password": token}
        monkeypatch.setenv(f"AIRFLOW_CONN_VOUCHERIFY_{name.upper()}", json.dumps(conn))
    ids: dict[str, list[str]] = {}
    for name in ("one", "two"):
        hook = VoucherifyHook(f"voucherify_{name}")
        ids[name] = [hook.import_orders([order(f"{name}-{i}-{n}") for n in range(10)]) for i in range(3)]
        hook.close()
    triggers = [trigger(ids[name][k:], f"voucherify_{name}") for name in ("one", "two") for k in (0, 1)]

    async def both_in_use(tasks: list[asyncio.Task[Verdict]]) -> None:
        await until(lambda: len(coalescers()) == 2)

    outcomes = run_triggers(triggers, both_in_use)

    assert all(succeeded(outcome, t.async_action_ids) for outcome, t in zip(outcomes, triggers, strict=True))
    assert {coalescer.key[0] for coalescer in reads.seen} == {"voucherify_one", "voucherify_two"}
    # Every read showed each waiter all of its actions: each project's list was read with its own
    # keys (one project's list never shows the other's actions).
    assert reads.answers
    assert all(asked == held for asked, held in reads.answers)


def test_an_answer_the_shared_read_cannot_parse_does_not_fail_its_waiters(
    slow_emulator: EmulatorServer,  # noqa: F811
    reads: Reads,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Unreadable(VoucherifyHook):
        """The shared read's hook: every list answer holds an entry the models refuse."""

        async def alist_async_actions(self, *args: Any, **kwargs: Any) -> Any:
            await super().alist_async_actions(*args, **kwargs)
            raise ValueError("status: Input should be 'ENQUEUED', 'IN_PROGRESS', 'DONE' or 'FAILED'")

    def shared_client(conn_id: str, settings: Any) -> VoucherifyHook:
        hook = Unreadable(conn_id)
        hook._settings = settings
        return hook

    # The trigger opens the shared reads' own client with VoucherifyHook.of_settings.
    monkeypatch.setattr(VoucherifyHook, "of_settings", staticmethod(shared_client))
    ids = queue_imports(4)

    outcomes = run_triggers([trigger(ids[:2]), trigger(ids[2:])])

    # Each waiter read its list alone instead (only its own entries parsed) and finished.
    assert succeeded(outcomes[0], ids[:2])
    assert succeeded(outcomes[1], ids[2:])
    assert reads.errors
    assert all(isinstance(exc, ValueError) for _, exc in reads.errors)
    assert requests(slow_emulator, LIST) > reads.seen[0].calls
