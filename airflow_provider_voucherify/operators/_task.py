"""The operators' side of Airflow: what they ask of it on the engines' behalf, and what it tells them.

- **Failing and deferring.** The engines decide (:mod:`~airflow_provider_voucherify.error_policy`
  says which errors a task retry cannot cure; the import and the reconciliation say when a rate
  limit's window reopens); :func:`fail_fast` and :func:`defer_until` turn those decisions into
  Airflow's terms: ``AirflowFailException`` and a deferral to Airflow's own ``DateTimeTrigger``,
  whose state every deferring task reads back the same way (:func:`resumed_state`).
- **Files.** The engines read and write files through a small protocol
  (:class:`~airflow_provider_voucherify.importing.source.StoragePath`) and import no Airflow, so a
  URI such as ``s3://bucket/orders.jsonl.gz`` is made into Airflow's ``ObjectStoragePath`` here
  (:func:`resolved`), before it reaches them; local paths and ``file://`` URIs pass as they are.
- **The task.** Its start (the default ``historical_before`` counts back from it), its rendered
  flags, and how the scheduler limits it (one import per project at a time).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from typing import Any, NoReturn

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import ObjectStoragePath

from airflow_provider_voucherify.error_policy import retry_cannot_cure
from airflow_provider_voucherify.importing.source import LOCAL_PROTOCOLS, is_location, is_stored, storage_path
from airflow_provider_voucherify.importing.validation import historical_cutoff

try:  # Airflow >= 3.2 moved it to the Task SDK and deprecated the old name.
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,attr-defined,unused-ignore]

__all__ = [
    "DEFAULT_HISTORICAL_WINDOW",
    "DEFERRAL_STATE_KEY",
    "AirflowFailException",
    "as_flag",
    "defer_to",
    "defer_until",
    "fail_fast",
    "lineage_input",
    "one_import_at_a_time",
    "resolved",
    "resumed_state",
    "task_cutoff",
    "worker_waits_why",
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


def resolved(value: Any) -> Any:
    """``value`` with a URI text (``s3://...``, any scheme but ``file``) made an ``ObjectStoragePath``;
    anything else (a list of orders, a local path, ``None``) as it is."""
    if isinstance(value, str) and "://" in value and value.partition("://")[0] not in LOCAL_PROTOCOLS:
        return ObjectStoragePath(value)
    return value


def lineage_input(orders: object) -> tuple[str, str] | None:
    """OpenLineage ``(namespace, name)`` of a file source, else ``None``.

    Named as Airflow's object-storage providers name the same file, so the datasets join:
    ``("s3://bucket", "key/of/file")`` (no leading slash), ``("file", "/absolute/path")``.
    """
    orders = resolved(orders)
    if not is_location(orders):
        return None
    path = storage_path(orders)
    if not is_stored(path):
        return "file", str(path.absolute())
    stored: Any = path  # an ObjectStoragePath: it has a bucket and a key
    return f"{stored.protocol}://{stored.bucket}" if stored.bucket else stored.protocol, stored.key.lstrip(
        "/"
    )


# Orders created less than this long before the task starts belong to on-going sync.
DEFAULT_HISTORICAL_WINDOW = timedelta(hours=24)


def task_cutoff(value: datetime | str | timedelta | None, context: Any) -> datetime | None:
    """``historical_before`` as a moment: a ``timedelta`` counts back from the task's start."""
    ti = context.get("ti") if hasattr(context, "get") else None
    started = getattr(ti, "start_date", None)
    if not isinstance(started, datetime):
        started = datetime.now(timezone.utc)
    return historical_cutoff(value, started)


def as_flag(value: bool | str, name: str) -> bool:
    """A templated boolean: ``True``/``False``, or its rendered text (``"false"``, ``"0"``, ...)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", "none", ""):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def one_import_at_a_time(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with ``max_active_tis_per_dag=1`` unless it is given (here or in ``default_args``):
    Voucherify runs one import per project at a time, so a second one only races the first."""
    if "max_active_tis_per_dag" in kwargs or "max_active_tis_per_dag" in (kwargs.get("default_args") or {}):
        return kwargs
    return {**kwargs, "max_active_tis_per_dag": 1}


AIRFLOW_VERSION = version("apache-airflow")


@functools.cache
def deferred_count_against_limits() -> bool:
    """Whether this Airflow's scheduler counts deferred task instances against
    ``max_active_tis_per_dag``: the fix of apache/airflow#61700 (#61769) brought
    ``TaskInstance.get_num_active_task_instances`` (Airflow 3.3, and 3.2.2 by backport); 3.1 and
    3.2.0 count running and queued ones only. Told by the method, not by the version number, and
    asked when a task runs (the scheduler's models are not imported when a DAG is parsed).
    """
    from airflow.models.taskinstance import TaskInstance

    return hasattr(TaskInstance, "get_num_active_task_instances")


def worker_waits_why(max_active_tis_per_dag: int | None) -> str | None:
    """Why an import waits for a rate-limit window in the worker although deferrable, or ``None``
    when it may defer: limited to N at a time on an Airflow whose scheduler does not count a
    deferred task against that limit, a deferred import would let another run's import start."""
    if max_active_tis_per_dag is None or deferred_count_against_limits():
        return None
    return (
        f"rate-limit windows are waited for in the worker, not deferred: on Airflow "
        f"{AIRFLOW_VERSION} a deferred task does not count against "
        f"max_active_tis_per_dag={max_active_tis_per_dag}, so another run's import could start "
        "meanwhile (Airflow 3.3 counts it; a pool with include_deferred=True keeps the limit too)"
    )
