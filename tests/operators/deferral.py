"""Drive an operator's deferrals in-process: what the triggerer and scheduler do, minus their latency.

A time trigger (``DateTimeTrigger``) is waited out here with a sleep until its moment; the task is
then resumed by calling the method it named, with the kwargs it deferred with, as Airflow does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow < 3.2
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]


@dataclass
class Drive:
    """What happened: the result, each deferral's trigger, and the time the task held a worker."""

    result: Any = None
    deferrals: list[TaskDeferred] = field(default_factory=list)
    worker_seconds: float = 0.0
    deferred_seconds: float = 0.0


def drive(
    operator: Any,
    context: dict[str, Any],
    *,
    max_deferrals: int = 1000,
    drop_kwargs: bool = False,
    wait: Callable[[float], object] = time.sleep,
) -> Drive:
    """Run ``operator.execute(context)`` to the end, waiting out every time-trigger deferral.

    :param drop_kwargs: resume as ``dag.test()`` and ``airflow dags test`` do: with the trigger's
        event, without the kwargs the task deferred with
    :param wait: waits the real seconds until a trigger's moment; a test on a time-scaled emulator
        may move the emulator's clock there instead (``lambda s: server.advance_clock(s * scale)``)
    """
    outcome = Drive()
    step: Any = lambda: operator.execute(context)  # noqa: E731
    for _ in range(max_deferrals):
        started = time.monotonic()
        try:
            outcome.result = step()
        except TaskDeferred as deferred:
            outcome.worker_seconds += time.monotonic() - started
            outcome.deferrals.append(deferred)
            moment = deferred.trigger.moment.timestamp()
            paused = time.monotonic()
            wait(max(moment - time.time(), 0.0))  # the trigger's own wait
            outcome.deferred_seconds += time.monotonic() - paused
            method = getattr(operator, deferred.method_name)
            kwargs = {} if drop_kwargs else deferred.kwargs or {}
            step = lambda method=method, kwargs=kwargs: method(context, event=None, **kwargs)  # noqa: E731
            continue
        outcome.worker_seconds += time.monotonic() - started
        return outcome
    raise AssertionError(f"more than {max_deferrals} deferrals")
