"""soft_fail parity, through ``dag.test()`` against the emulator: in every mode (poke, reschedule,
deferrable), ``soft_fail`` skips a FAILED import, too many failed orders and a timeout, and never an
error that waiting cannot cure (here an async action id the project does not know: 404)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.sensors.async_action import WaitingCannotCure
from tests.sensors.test_async_action import failure_message, run_dag
from tests.waiting.emulators import (  # noqa: F401
    bad_order,
    order,
    queue_imports,
    requests,
    slow_emulator,
    slow_emulator_server,
)

MODES = {
    "poke": {"mode": "poke", "deferrable": False},
    "reschedule": {"mode": "reschedule", "deferrable": False},
    "deferrable": {"deferrable": True},
}
SKIPPABLE = ("failed", "too_many_failed_orders", "timeout")


@pytest.fixture
def forget_after_first_poll(slow_emulator: EmulatorServer) -> Iterator[Callable[[], None]]:  # noqa: F811
    """Start a watcher that wipes the emulator once an async action was read: later reads get 404.

    In deferrable mode the sensor's first poke sees the import queued and defers; the trigger
    then meets the unknown id, so the ``error`` event (not the worker) is what is tested.
    """
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start() -> None:
        def watch() -> None:
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                if requests(slow_emulator, "GET /v1/async-actions/{id}"):
                    slow_emulator.reset()
                    return
                stop.wait(0.01)  # poll interval

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(10)


def scenario(
    case: str, emulator: EmulatorServer, forget: Callable[[], None]
) -> tuple[Callable[[], list[str]], dict[str, Any]]:
    """The upstream task that queues imports for ``case``, and the sensor's extra arguments."""
    if case == "success":
        return lambda: queue_imports(1), {"timeout": 60}
    if case == "failed":

        def failing() -> list[str]:
            emulator.set_faults(fail_imports=1)
            return queue_imports(1)

        return failing, {"timeout": 60}
    if case == "too_many_failed_orders":

        def rejected() -> list[str]:
            hook = VoucherifyHook()
            try:
                return [hook.import_orders([order("fine"), bad_order("bad-1"), bad_order("bad-2")])]
            finally:
                hook.close()

        return rejected, {"timeout": 60, "max_failed_orders": 1}
    if case == "timeout":
        # 100 s of work at the emulator's speed, for a 1 s timeout: still running however slowly
        # Airflow starts the sensor on a loaded machine.
        return lambda: queue_imports(2, orders_each=2000), {"timeout": 1}

    def forgotten() -> list[str]:
        ids = queue_imports(1, orders_each=2000)  # 50 s of work: still running when it is forgotten
        forget()
        return ids

    return forgotten, {"timeout": 60}


@pytest.mark.parametrize("soft_fail", [False, True], ids=["hard", "soft"])
@pytest.mark.parametrize("case", ["success", *SKIPPABLE, "error"])
@pytest.mark.parametrize("mode", list(MODES))
def test_soft_fail_skips_what_waiting_decided_and_never_an_error_waiting_cannot_cure(
    airflow_db: Any,
    slow_emulator: EmulatorServer,  # noqa: F811
    forget_after_first_poll: Callable[[], None],
    capsys: pytest.CaptureFixture[str],
    mode: str,
    case: str,
    soft_fail: bool,
) -> None:
    # On Airflow 3.1.0 the reschedule cases run with the fix 3.1.8 made to dag.test()'s first
    # reschedule date (tests/conftest.py, backport_dag_test_fixes).
    queue, kwargs = scenario(case, slow_emulator, forget_after_first_poll)

    seen = run_dag(queue, soft_fail=soft_fail, **MODES[mode], **kwargs)

    if case == "success":
        expected = "success"
    elif case in SKIPPABLE:
        expected = "skipped" if soft_fail else "failed"
    else:
        expected = "failed"
    assert seen["state"] == expected, seen.get("exception")
    if case == "error":
        exception = seen.get("exception")
        if exception is not None:  # Airflow 3.1 hands the callback no exception
            assert isinstance(exception, WaitingCannotCure)
        assert "answered 404" in failure_message(seen, capsys)
