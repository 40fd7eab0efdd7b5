"""The send loop of an import: skip what an earlier try sent, post the rest, record, report.

A 429 the client does not sleep through (longer than its ``max_rate_limit_wait``) reaches the
loop as :class:`~airflow_provider_voucherify.exceptions.VoucherifyRateLimitError`. The quota of a
billing cycle is re-raised (waiting days is pointless); any other limit records where the refused
batch starts in ``state`` and then either calls ``defer`` (the operator's deferral, which raises
``TaskDeferred``) or sleeps until the window reopens and posts the same batch again. A window
less than :data:`~airflow_provider_voucherify.rate_limits.MIN_DEFER_SECONDS` away is waited for in
the worker even when deferring: a deferral that short races Airflow's own resumption.

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
from typing import Any, NoReturn, Protocol

from airflow_provider_voucherify.error_policy import reopens_at
from airflow_provider_voucherify.exceptions import InvalidOrdersFileError, VoucherifyRateLimitError
from airflow_provider_voucherify.importing.batching import Batch
from airflow_provider_voucherify.importing.body_limit import BodyLimit, send_within_limit
from airflow_provider_voucherify.importing.continuation import Checkpoints, Continuation, where
from airflow_provider_voucherify.importing.ledger import BatchLedger
from airflow_provider_voucherify.importing.plan_view import PlanView, batches_left
from airflow_provider_voucherify.importing.progress import Progress
from airflow_provider_voucherify.importing.validation import Counts
from airflow_provider_voucherify.rate_limits import (
    RateLimit,
    defer_or_wait,
    sleep_until,
    when,
)

Defer = Callable[[float, Continuation], NoReturn]


class ImportClient(Protocol):
    """The calls the send loop makes (``VoucherifyHook`` has them)."""

    @property
    def rate_limit(self) -> RateLimit | None: ...

    def import_serialized(self, body: bytes, *, count: int, resend_safe: bool) -> str: ...


@dataclass
class SendLoop:
    """Sends an import's batches through ``hook``, one request at a time, in order.

    :param state: what earlier tries of this run did (updated as batches are accepted, and
        handed to ``defer`` when a rate limit refuses one)
    :param counts: the running counts of the validation step feeding the batches
    :param defer: defers the task until a window reopens; ``None`` waits in the worker
    :param bulk_calls_per_hour: the plan's bulk limit when the operator was told it
    """

    hook: ImportClient
    ledger: BatchLedger
    state: Continuation
    checkpoints: Checkpoints
    counts: Counts
    plan: PlanView
    batch_size: int
    body_limit: BodyLimit
    defer: Defer | None
    log: logging.Logger | Any
    bulk_calls_per_hour: int | None = None
    action_ids: list[str] = field(init=False)
    sent: int = field(init=False)
    skipped: int = field(init=False)

    def __post_init__(self) -> None:
        self.action_ids = list(self.state.action_ids)
        self.sent, self.skipped = self.state.sent, self.state.skipped
        self._sent_before = self.sent
        self._progress = Progress(total=self.checkpoints.source.total)
        self.plan.told(self.bulk_calls_per_hour, time.time())

    def run(self, made: Iterable[Batch]) -> None:
        """Send every batch of ``made`` (as cut by ``ImportRules.batches``) not skipped as recorded.

        :raises: what reading, posting or the rate limit raise (``TaskDeferred`` from ``defer``)
        """
        # Sequential: while a batch is posted nothing reads on, so the checkpoints and counts
        # still describe it (where it starts and ends, records read, share of the file read).
        try:
            for batch in self.checkpoints.batches(made, self.counts):
                if not self._skipped(batch):
                    self._accepted(batch, self._post(batch))
        except InvalidOrdersFileError as error:
            error.after_sending(self.sent_so_far())
            raise

    def sent_so_far(self) -> str:
        """What the import had sent when reading stopped, as a sentence for an error message."""
        batches = len(self.action_ids)
        if not batches:
            return "Nothing was sent"
        earlier = f" ({self.skipped} of them by earlier tries)" if self.skipped else ""
        if self.ledger.store is None:
            retry = "a retry sends them again (an update, by source_id), then the rest"
        else:
            retry = "a retry, once the file is whole, skips them and sends the rest"
        return f"{self.sent + self.skipped} orders in {batches} batches before it were sent{earlier}; {retry}"

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
        """Post ``batch`` (``POST /v1/orders/import``) and return the async action id of each request:
        one, or several when a 413 made it split the batch under the body limit.

        :raises VoucherifyRateLimitError: for ``api_calls_cycle``
        """
        start, source = self.checkpoints.current, self.checkpoints.source
        while True:
            try:
                action_ids = send_within_limit(self._send, batch, self.body_limit, self.log)
            except VoucherifyRateLimitError as exc:
                retry_at = reopens_at(exc)  # re-raises the billing cycle's quota
                seen = self.hook.rate_limit
                self.plan.refused(
                    retry_at, seen.limit if seen and seen.limit_type == exc.limit_type else None
                )
                # The refused batch itself remains, whatever the share of the file read says.
                left = batches_left(
                    source.total, start.read, self.batch_size, batch.number - 1, self._consumed(start.offset)
                )
                left = None if left is None else max(left, 1)
                deferring, how = defer_or_wait(self.defer is not None, retry_at, time.time())
                self.log.info(
                    "%s limit: batch %d refused; it continues at %s (in %.0f s), %s batches remain%s",
                    exc.limit_type or "rate",
                    batch.number,
                    when(retry_at),
                    max(retry_at - time.time(), 0.0),
                    "an unknown number of" if left is None else f"about {left}",
                    how,
                )
                self.state.position, self.state.identity = start, self.checkpoints.identity
                self.state.plan, self.state.waits = self.plan.to_dict(), self.state.waits + 1
                if deferring and self.defer is not None:
                    self.defer(retry_at, self.state)
                sleep_until(retry_at)
                self.log.info("Window reopened: sending batch %d again", batch.number)
                continue
            self.plan.accepted(time.time())
            return action_ids

    def _consumed(self, offset: int | None) -> float | None:
        """The share of the file the batches consumed: the reader's share (read ahead into its
        buffer) or, when less, the byte offset reached over the file's size."""
        source = self.checkpoints.source
        fraction, size = source.fraction_read(), source.size
        if fraction is not None and offset is not None and size:
            return min(fraction, offset / size)
        return fraction

    def _send(self, body: bytes, count: int, resend_safe: bool) -> str:
        return self.hook.import_serialized(body, count=count, resend_safe=resend_safe)

    def _accepted(self, batch: Batch, sent_as: list[str]) -> None:
        """``batch`` was accepted as ``sent_as``: record it, count it and log the progress line."""
        ends = self.checkpoints.following
        fraction = self._consumed(ends.offset)
        self.ledger.record(batch, sent_as[0], where=where(batch.count, ends, self.checkpoints.identity))
        if len(sent_as) > 1:
            # Split after a 413, it went out as several imports and an entry holds one action
            # id: recorded, so that a retry still recognises the batches after it, but marked to
            # be sent again (an update, by source_id).
            self.ledger.forget_failed(sent_as[:1])
        self.sent += batch.count
        # Where this batch ends, not how far the reader got: it read one record past it.
        left = batches_left(self.checkpoints.source.total, ends.read, self.batch_size, batch.number, fraction)
        now = time.time()
        eta = self.plan.eta(left, now) if left else None
        line = self._progress.describe(
            batch.number,
            self.sent + self.skipped,
            self.sent - self._sent_before,
            fraction,
            plan_wait=None if eta is None else eta - now,
            plan_known=(self.plan.limit is not None) and (eta is not None or not left or None),
        )
        view = self.plan.describe(left, now)
        self.log.info("%s, async action %s%s", line, ", ".join(sent_as), f"; {view}" if view else "")
        self.action_ids.extend(sent_as)


def import_summary(counts: Counts, loop: SendLoop | None, state: Continuation) -> dict[str, int]:
    """XCom ``import_summary``: records ``read``, ``valid`` and ``invalid``; orders ``sent`` by this
    try and ``skipped_on_retry`` (in batches earlier tries had sent); ``batches``. ``loop`` is
    ``None`` when the try failed before sending: ``state`` then says what earlier tries did."""
    return {
        **counts.as_dict(),
        "sent": loop.sent if loop is not None else state.sent,
        "skipped_on_retry": loop.skipped if loop is not None else state.skipped,
        "batches": len(loop.action_ids if loop is not None else state.action_ids),
    }
