"""The send loop of an import: skip what an earlier try sent, post the rest, record, report.

Batch ``k`` is posted only after batch ``k - 1`` was accepted and recorded in the ledger, with
where it ended in the source (so a retry can read on from there); a batch a rate limit refused
is continued at its own start. Posting and reading the next batch are not overlapped: measured on
the plan-limits benchmark (2 cores shared with the API), a second thread posting while this one
read on held the worker as long, or longer, since both compete for the same cores.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.operators._batching import Batch
from airflow_provider_voucherify.operators._body_limit import BodyLimit
from airflow_provider_voucherify.operators._continuation import Checkpoints, Continuation
from airflow_provider_voucherify.operators._plan_view import PlanView, batches_left
from airflow_provider_voucherify.operators._progress import Progress
from airflow_provider_voucherify.operators._rate_limited import post_batch
from airflow_provider_voucherify.operators._restart import where
from airflow_provider_voucherify.operators._resume import BatchLedger
from airflow_provider_voucherify.operators._validation import Counts

Defer = Callable[[float, Continuation], NoReturn]


@dataclass
class SendLoop:
    """Sends an import's batches through ``hook``, one request at a time, in order.

    :param state: what earlier tries of this run did (updated as batches are accepted, and
        handed to ``defer`` when a rate limit refuses one)
    :param counts: the running counts of the validation step feeding the batches
    :param defer: defers the task until a window reopens; ``None`` waits in the worker
    """

    hook: VoucherifyHook
    ledger: BatchLedger
    state: Continuation
    checkpoints: Checkpoints
    counts: Counts
    plan: PlanView
    batch_size: int
    body_limit: BodyLimit
    defer: Defer | None
    log: logging.Logger | Any
    action_ids: list[str] = field(init=False)
    sent: int = field(init=False)
    skipped: int = field(init=False)

    def __post_init__(self) -> None:
        self.action_ids = list(self.state.action_ids)
        self.sent, self.skipped = self.state.sent, self.state.skipped
        self._sent_before = self.sent
        self._progress = Progress(total=self.checkpoints.source.total)

    def run(self, made: Iterable[Batch]) -> None:
        """Send every batch of ``made`` (as cut by ``ImportRules.batches``) not skipped as recorded.

        :raises: what reading, posting or the rate limit raise (``TaskDeferred`` from ``defer``)
        """
        # Sequential: while a batch is posted nothing reads on, so the checkpoints and counts
        # still describe it (where it starts and ends, records read, share of the file read).
        for batch in self.checkpoints.batches(made, self.counts):
            if not self._skipped(batch):
                self._accepted(batch, self._post(batch))

    def _skipped(self, batch: Batch) -> bool:
        decision = self.ledger.decide(batch)
        if decision.async_action_id is not None:
            self.skipped += batch.count
            self.log.info("batch %d: %s, skipped", batch.number, decision.reason)
            self.action_ids.append(decision.async_action_id)
            return True
        if self.ledger.resume and batch.number in self.ledger.recalled:
            self.log.info("batch %d: sending it again: %s", batch.number, decision.reason)
        # What a deferral while posting this batch hands on: the batches before it.
        self.state.action_ids, self.state.sent, self.state.skipped = (
            self.action_ids,
            self.sent,
            self.skipped,
        )
        return False

    def _post(self, batch: Batch) -> list[str]:
        return post_batch(
            self.hook,
            batch,
            state=self.state,
            start=self.checkpoints.current,
            identity=self.checkpoints.identity,
            total=self.checkpoints.source.total,
            fraction=self.checkpoints.source.fraction_read(),
            plan=self.plan,
            batch_size=self.batch_size,
            log=self.log,
            defer=self.defer,
            body_limit=self.body_limit,
        )

    def _accepted(self, batch: Batch, sent_as: list[str]) -> None:
        """``batch`` was accepted as ``sent_as``: record it, count it and log the progress line."""
        ends, fraction = self.checkpoints.following, self.checkpoints.source.fraction_read()
        self.ledger.record(batch, sent_as[0], where=where(batch.count, ends, self.checkpoints.identity))
        if len(sent_as) > 1:
            # Split after a 413, it went out as several imports and an entry holds one action
            # id: recorded, so that a retry still recognises the batches after it, but marked to
            # be sent again (an update, by source_id).
            self.ledger.forget_failed(sent_as[:1])
        self.sent += batch.count
        line = self._progress.describe(
            batch.number, self.sent + self.skipped, self.sent - self._sent_before, fraction
        )
        left = batches_left(
            self.checkpoints.source.total, self.counts.read, self.batch_size, batch.number, fraction
        )
        view = self.plan.describe(left, time.time())
        self.log.info("%s, async action %s%s", line, ", ".join(sent_as), f"; {view}" if view else "")
        self.action_ids.extend(sent_as)
