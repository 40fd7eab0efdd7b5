"""AsyncActionSensor: waits until Voucherify async actions (order imports) are finished."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_voucherify._compat import conf
from airflow_provider_voucherify.airflow_errors import raises_airflow_errors
from airflow_provider_voucherify.error_policy import waiting_can_cure
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.triggers.async_action import AsyncActionTrigger
from airflow_provider_voucherify.waiting.pacing import DEFAULT_API_BUDGET_SHARE, check_share
from airflow_provider_voucherify.waiting.runners import ProgressLog, poll_once, wait_until_finished
from airflow_provider_voucherify.waiting.tracker import ActionTracker, action_ids
from airflow_provider_voucherify.waiting.verdict import Outcome, Verdict

try:  # Airflow >= 3.2 moved these to the Task SDK and deprecated the old names.
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )

if TYPE_CHECKING:
    from airflow.sdk import Context


class WaitingCannotCure(AirflowFailException):
    """An error that no amount of waiting cures (bad credentials, unknown id, missing connection).

    It fails the sensor even with ``soft_fail=True``: a skip would hide it and let the run end green.
    """


# The trigger fires its own timeout event at the deadline; Airflow's deferral timeout is a backstop.
DEFERRAL_TIMEOUT_MARGIN = 60.0


@raises_airflow_errors("execute", "resume_execution")
class AsyncActionSensor(BaseSensorOperator):
    """Waits until every async action is final; fails on a ``FAILED`` one or too many failed orders.

    Succeeds when every action is ``DONE`` and their summed ``failed_count`` is at most
    ``max_failed_orders``, and returns (as XCom) a bounded summary: ``actions``, ``done_count``,
    ``failed_count`` and at most 100 ``failed_orders`` (``source_id``, ``reason``). An action that
    ended ``FAILED`` fails the task naming its id and ``request_id``; too many failed orders fail it
    listing the first 20 with their reasons and the total. ``soft_fail`` turns both, and a timeout,
    into a skip, in every mode (poke, reschedule, deferrable). An empty list of ids (an import
    that sent nothing) succeeds at once with ``{"actions": [], "done_count": 0, ...}``.

    Errors that waiting cannot cure (401/403, an unknown id, a missing or malformed connection)
    fail the task in every mode, ``soft_fail`` or not, as :class:`WaitingCannotCure` (an
    ``AirflowFailException``, so not retried) with the original error as ``__cause__``.

    Each poll costs ``ceil(K / 100)`` list calls for K unfinished actions, plus one call per action
    when it finishes. In ``poke`` mode and deferred, polls are planned from the imports' progress
    rate (never more often than ``poke_interval``) and kept within ``api_budget_share`` of the
    plan's ordinary calls; a 429 is waited out until its window reopens. ``reschedule`` mode polls
    once per ``poke_interval`` and reads the results of ``DONE`` actions only once all are final,
    since nothing survives between its pokes.

    :param async_action_ids: one id or a list of ids, e.g. ``ImportOrdersOperator``'s XCom
        (templated; a rendered JSON list is accepted too)
    :param voucherify_conn_id: the Voucherify connection id. Templated; a deferred wait uses the
        rendered id.
    :param deferrable: wait in the triggerer instead of a worker slot (after one first poke)
    :param poke_interval: the shortest time between two polls, in seconds
    :param timeout: seconds to wait before failing with ``AirflowSensorTimeout``; defaults to
        Airflow's ``[sensors] default_timeout``
    :param max_failed_orders: failed orders tolerated over all actions
    :param api_budget_share: the largest share of the plan's ordinary API calls (as the
        ``X-Rate-Limit-*`` headers report them) the wait may spend, in (0, 1]
    """

    template_fields: Sequence[str] = ("async_action_ids", "voucherify_conn_id")
    template_fields_renderers = {"async_action_ids": "json"}
    ui_color = "#f3e8ff"

    def __init__(
        self,
        *,
        async_action_ids: str | Sequence[str],
        voucherify_conn_id: str = VoucherifyHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: timedelta | float = 30,
        timeout: timedelta | float | None = None,
        max_failed_orders: int = 0,
        api_budget_share: float = DEFAULT_API_BUDGET_SHARE,
        **kwargs: Any,
    ) -> None:
        if timeout is None:
            timeout = conf.getfloat("sensors", "default_timeout")
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        if max_failed_orders < 0:
            raise ValueError(f"max_failed_orders must not be negative, got {max_failed_orders}")
        self.async_action_ids = async_action_ids
        self.voucherify_conn_id = voucherify_conn_id
        self.deferrable = deferrable
        self.max_failed_orders = max_failed_orders
        self.api_budget_share = check_share(api_budget_share)
        self._tracker: ActionTracker | None = None

    @cached_property
    def hook(self) -> VoucherifyHook:
        return VoucherifyHook(self.voucherify_conn_id)

    @cached_property
    def _progress(self) -> ProgressLog:
        return ProgressLog(self.log)

    def execute(self, context: Context) -> Any:
        with _not_skipped():
            return self._execute(context)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Airflow's, except that an error waiting cannot cure stays an error under ``soft_fail``."""
        with _not_skipped():
            return super().resume_execution(next_method, next_kwargs, context)

    def _execute(self, context: Context) -> Any:
        try:
            if not self.deferrable and self.mode == "poke":
                return self._soft(lambda: self._finish(self._wait()))
            if not self.deferrable:
                return super().execute(context)
            verdict = self._poll()
            if verdict.finished:
                return self._soft(lambda: self._finish(verdict))
            self.log.info("Deferring: %s", verdict.message)
        finally:
            self.hook.close()
        self.defer(
            trigger=AsyncActionTrigger(
                async_action_ids=self._ids,
                voucherify_conn_id=self.voucherify_conn_id,
                poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
                max_failed_orders=self.max_failed_orders,
                api_budget_share=self.api_budget_share,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + self.poke_interval + DEFERRAL_TIMEOUT_MARGIN),
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        verdict = self._poll()
        if not verdict.finished:
            self._progress(verdict)
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish(verdict))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger; ``soft_fail`` is applied by Airflow's ``resume_execution``."""
        return self._finish(Verdict.from_event(event))

    @property
    def _ids(self) -> list[str]:
        return action_ids(self.async_action_ids)

    def _wait(self) -> Verdict:
        """Poke mode: the planned wait in this worker, instead of a poke every ``poke_interval``."""
        try:
            return wait_until_finished(
                self.hook,
                self._ids,
                poll_interval=self.poke_interval,
                timeout=self.timeout,
                max_failed_orders=self.max_failed_orders,
                api_budget_share=self.api_budget_share,
                log=self.log,
            )
        except Exception as exc:  # the planner raises only what waiting cannot cure
            raise WaitingCannotCure(f"Waiting for async actions failed: {exc}") from exc

    def _poll(self) -> Verdict:
        if self._tracker is None:
            self._tracker = ActionTracker(
                self._ids,
                max_failed_orders=self.max_failed_orders,
                # Only a poke-mode sensor keeps its tracker from one poke to the next.
                eager_results=self.mode == "poke" and not self.deferrable,
            )
        try:
            return poll_once(self.hook, self._tracker)
        except Exception as exc:
            if not waiting_can_cure(exc):
                raise WaitingCannotCure(f"Waiting for async actions failed: {exc}") from exc
            self.log.warning("Polling async actions failed for now, polling again: %s", exc)
            return self._tracker.verdict()

    def _finish(self, verdict: Verdict) -> dict[str, Any]:
        if verdict.status is Outcome.SUCCESS and verdict.summary is not None:
            self.log.info("%s", verdict.message)
            return verdict.summary.model_dump(mode="json")
        _raise(verdict)

    def _soft(self, finish: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        # Outside poke() and execute_complete(), Airflow does not apply soft_fail for us.
        try:
            return finish()
        except (AirflowSensorTimeout, AirflowFailException) as exc:
            if self.soft_fail and not isinstance(exc, WaitingCannotCure):
                raise AirflowSkipException(f"Skipping (soft_fail=True): {exc}") from exc
            raise


@contextmanager
def _not_skipped() -> Iterator[None]:
    """Undo Airflow's ``soft_fail`` skip of a :class:`WaitingCannotCure` (it wraps it as cause)."""
    try:
        yield
    except AirflowSkipException as exc:
        if isinstance(exc.__cause__, WaitingCannotCure):
            raise exc.__cause__ from exc.__cause__.__cause__
        raise


def _raise(verdict: Verdict) -> NoReturn:
    if verdict.status is Outcome.ERROR:
        raise WaitingCannotCure(f"Waiting for async actions failed: {verdict.message}")
    if verdict.status is Outcome.TIMEOUT:
        raise AirflowSensorTimeout(verdict.message)
    if verdict.status is Outcome.FAILED:
        # A final action stays final: retrying the sensor cannot change the outcome.
        raise AirflowFailException(verdict.message)
    raise AirflowException(verdict.message)
