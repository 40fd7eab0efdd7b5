"""What the operators ask of Airflow on the engines' behalf: fail without a retry, defer until a moment.

The engines decide (:mod:`~airflow_provider_voucherify.error_policy` says which errors a task retry
cannot cure; the import and the reconciliation say when a rate limit's window reopens); this module
turns those decisions into Airflow's terms: ``AirflowFailException`` and a deferral to Airflow's
own ``DateTimeTrigger``, whose state every deferring task reads back the same way (:func:`resumed_state`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, NoReturn

from airflow.providers.standard.triggers.temporal import DateTimeTrigger

from airflow_provider_voucherify.error_policy import retry_cannot_cure

try:  # Airflow >= 3.2 moved it to the Task SDK and deprecated the old name.
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,attr-defined,unused-ignore]

__all__ = [
    "DEFERRAL_STATE_KEY",
    "AirflowFailException",
    "defer_to",
    "defer_until",
    "fail_fast",
    "resumed_state",
]


@contextmanager
def fail_fast(what: str) -> Iterator[None]:
    """Re-raise an error :func:`~airflow_provider_voucherify.error_policy.retry_cannot_cure` as
    ``AirflowFailException`` (no retry), with the original as ``__cause__``.

    :param what: what was being done, e.g. ``"Import"``; starts the message
    """
    try:
        yield
    except AirflowFailException:
        raise
    except Exception as exc:
        if not retry_cannot_cure(exc):
            raise
        raise AirflowFailException(
            f"{what} failed, not retried (a retry would fail the same way): {exc}"
        ) from exc


# The XCom that keeps a deferring task's state for its resumption (see defer_until).
DEFERRAL_STATE_KEY = "deferral_state"


def defer_until(
    operator: Any, context: Any, moment: float, method_name: str, kwargs: dict[str, Any]
) -> NoReturn:
    """Defer ``operator`` until ``moment`` (epoch seconds); Airflow then calls ``method_name``.

    The state the task resumes with (``kwargs``: plain JSON) travels twice: as the deferral's
    kwargs, and in this try's XCom ``deferral_state``, because ``dag.test()`` and
    ``airflow dags test`` call the resumed method with the trigger's event instead of the kwargs.
    :func:`resumed_state` reads it back from whichever survived. A deferral keeps this try's XComs
    (a retry or a clear starts without them), so the XCom is this very deferral's.

    :raises TaskDeferred: always (that is how a task defers)
    """
    trigger = DateTimeTrigger(moment=datetime.fromtimestamp(moment, tz=timezone.utc))
    defer_to(operator, context, trigger, method_name, kwargs)


def defer_to(operator: Any, context: Any, trigger: Any, method_name: str, kwargs: dict[str, Any]) -> NoReturn:
    """Defer ``operator`` to ``trigger``; Airflow then calls ``method_name`` with its event. The
    state ``kwargs`` travels as :func:`defer_until` says, for :func:`resumed_state`.

    :raises TaskDeferred: always
    """
    context["ti"].xcom_push(key=DEFERRAL_STATE_KEY, value=kwargs)
    operator.defer(trigger=trigger, method_name=method_name, kwargs=kwargs)
    raise AssertionError("BaseOperator.defer returned")  # pragma: no cover - it always raises


def resumed_state(context: Any, name: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """The state ``name`` a task deferred with (:func:`defer_until`): ``given`` when Airflow handed
    the deferral's kwargs back, else the copy in this try's XCom ``deferral_state``, else ``{}``."""
    if given is not None:
        return given
    ti = context["ti"]
    stored = ti.xcom_pull(task_ids=ti.task_id, key=DEFERRAL_STATE_KEY, map_indexes=ti.map_index)
    state = stored.get(name) if isinstance(stored, dict) else None
    return state if isinstance(state, dict) else {}
