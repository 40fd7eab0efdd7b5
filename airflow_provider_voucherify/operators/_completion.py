"""How an import ends once its batches are sent: the wait, the verdict's consequences, OpenLineage.

ImportOrdersOperator with ``wait_for_completion=True`` waits for every import it sent, in the
triggerer (:func:`wait_trigger`, ``deferrable=True``) or in the worker (:func:`wait_in_worker`),
with the same verdict as ``AsyncActionSensor``; :func:`conclude` acts on that verdict, and
:func:`lineage` describes the run for OpenLineage.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_voucherify.assets import orders_dataset
from airflow_provider_voucherify.exceptions import VoucherifyError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.importing.ledger import BatchLedger, Project
from airflow_provider_voucherify.operators._task import AirflowFailException, lineage_input
from airflow_provider_voucherify.waiting.runners import wait_until_finished
from airflow_provider_voucherify.waiting.verdict import Outcome, Verdict

if TYPE_CHECKING:
    from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
    from airflow_provider_voucherify.triggers.async_action import AsyncActionTrigger


def project_of(hook: VoucherifyHook) -> Project:
    """The project ``hook``'s connection points at: base URL and Application ID."""
    return Project(hook.settings.base_url, hook.settings.app_id)


def wait_for_imports(operator: ImportOrdersOperator, action_ids: list[str]) -> Verdict:
    """Wait for ``action_ids`` as ``operator`` says: defer to the trigger (Airflow then calls its
    ``execute_complete``) when it is deferrable, else poll in the worker; returns the verdict.

    :raises TaskDeferred: when ``operator.deferrable``
    """
    options: dict[str, Any] = {
        "poll_interval": operator.poll_interval,
        "timeout": operator.timeout,
        "max_failed_orders": operator.max_failed_orders,
        "api_budget_share": operator.api_budget_share,
    }
    if operator.deferrable:
        operator.defer(
            trigger=wait_trigger(operator.voucherify_conn_id, action_ids, **options),
            method_name="execute_complete",
            kwargs={"async_action_ids": action_ids},
        )
    return wait_in_worker(operator.hook, action_ids, **options, log=operator.log)


def wait_trigger(
    conn_id: str,
    action_ids: list[str],
    *,
    poll_interval: float,
    timeout: float,
    max_failed_orders: int,
    api_budget_share: float,
) -> AsyncActionTrigger:
    """The trigger a deferrable wait defers to: every parameter of the operator's wait."""
    from airflow_provider_voucherify.triggers.async_action import AsyncActionTrigger

    return AsyncActionTrigger(
        async_action_ids=action_ids,
        voucherify_conn_id=conn_id,
        poll_interval=poll_interval,
        end_time=time.time() + timeout,
        max_failed_orders=max_failed_orders,
        api_budget_share=api_budget_share,
    )


def wait_in_worker(
    hook: VoucherifyHook,
    action_ids: list[str],
    *,
    poll_interval: float,
    timeout: float,
    max_failed_orders: int,
    api_budget_share: float,
    log: logging.Logger | Any,
) -> Verdict:
    """Wait in the worker (``GET /v1/async-actions[/{id}]``) until the verdict is known."""
    try:
        return wait_until_finished(
            hook,
            action_ids,
            poll_interval=poll_interval,
            timeout=timeout,
            max_failed_orders=max_failed_orders,
            api_budget_share=api_budget_share,
            log=log,
        )
    finally:
        hook.close()


def conclude(verdict: Verdict, project: Project, store: Any, log: logging.Logger | Any) -> int | None:
    """Act on the wait's verdict; return the number of orders Voucherify imported.

    A batch whose import ended ``FAILED`` is marked in the ledger (``store``: the task state
    store, or ``None``), so that a retry sends it again.

    :raises AirflowFailException: on an error waiting cannot cure (401/403, unknown id, ...)
    :raises VoucherifyError: on a failed import, too many failed orders, or a timeout (retryable)
    """
    if verdict.failed_actions:
        # A whole import FAILED: its orders are not in Voucherify, so a retry must send that
        # batch again rather than skip it as accepted.
        ledger = BatchLedger(store, project)
        if marked := ledger.forget_failed(verdict.failed_actions):
            log.info("%d batches whose import FAILED will be sent again by a retry", marked)
    if verdict.status is Outcome.ERROR:
        # The trigger ends early only on what waiting cannot cure (401/403, unknown id, ...).
        raise AirflowFailException(f"Import {verdict.status.value}: {verdict.message}")
    if verdict.status is not Outcome.SUCCESS:
        raise VoucherifyError(f"Import {verdict.status.value}: {verdict.message}")
    log.info("%s", verdict.message)
    return verdict.summary.done_count if verdict.summary is not None else None


def lineage(orders: object, project: Project | None, imported_orders: int | None) -> Any:
    """OpenLineage: the source file in; the project's orders out, only once imported.

    ``imported_orders`` is ``None`` unless a wait succeeded: an import merely submitted claims no
    output. After a successful wait the output carries an ``outputStatistics`` facet with the
    number of orders Voucherify imported; it is named as the asset
    ``voucherify://<host>/<Application ID>/orders`` translates (:mod:`~airflow_provider_voucherify.assets`).
    ``None`` without OpenLineage.
    """
    try:
        from airflow.providers.common.compat.openlineage.facet import (
            Dataset,
            OutputDataset,
            OutputStatisticsOutputDatasetFacet,
        )
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None
    source = lineage_input(orders)
    outputs = []
    if imported_orders is not None and project is not None:
        namespace, name = orders_dataset(project.base_url, project.app_id)
        outputs.append(
            OutputDataset(
                namespace=namespace,
                name=name,
                outputFacets={
                    "outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=imported_orders)
                },
            )
        )
    return OperatorLineage(
        inputs=[Dataset(namespace=source[0], name=source[1])] if source else [], outputs=outputs
    )
