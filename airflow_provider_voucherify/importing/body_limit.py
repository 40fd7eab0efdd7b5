"""Send a batch under the import's body limit, learning that limit from the API's 413.

The orders import does not document its body limit: 10 MiB is the documented limit of other bulk
endpoints, and the 413 comes from the API's HTTP framework, whose default is 1 MiB. So a batch is
cut at 10 MiB and, when the API answers 413:

- the limit is read from the message (``... maximum allowed: 1048576``), remembered for the rest of
  the import (the batching reads :attr:`BodyLimit.max_bytes` before each batch it cuts) and logged
  once; a message without a number still teaches that the limit is below the refused size;
- the refused batch is split in halves by order count, each sent the same way (split again on
  another 413), so no order is lost and no request is sent that is known to be too large.

A single order larger than the limit cannot be split: :class:`OrderTooLargeError` names its size.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_voucherify.exceptions import InvalidOrderError, VoucherifyApiError
from airflow_provider_voucherify.importing.batching import Batch
from airflow_provider_voucherify.models import MAX_IMPORT_BYTES

_MAXIMUM = re.compile(r"maximum allowed:\s*(\d+)")

SendBody = Callable[[bytes, int, bool], str]
"""``(body, count, resend_safe) -> async action id``: one ``POST /v1/orders/import``."""


class OrderTooLargeError(InvalidOrderError):
    """One order alone is larger than the body limit the API answered with (413).

    An input error like any invalid order (a retry cannot cure it), though found only when sending.
    """

    def __init__(self, reason: str) -> None:
        super().__init__([("", reason)])


@dataclass
class BodyLimit:
    """The largest import body the API takes, as learned so far (10 MiB until a 413 says less)."""

    max_bytes: int = MAX_IMPORT_BYTES
    learned: bool = False

    def learn(self, error: VoucherifyApiError, refused_size: int, log: logging.Logger | Any) -> None:
        """Lower the limit after a 413 for a body of ``refused_size`` bytes; log the first time."""
        match = _MAXIMUM.search(f"{error.message or ''} {error.details or ''}")
        limit = int(match.group(1)) if match else refused_size - 1
        if limit >= self.max_bytes:
            return
        self.max_bytes = max(limit, 1)
        if not self.learned:
            self.learned = True
            log.warning(
                "%s refused a %d-byte body (413): the import's body limit is %s%d bytes; "
                "sending smaller batches from now on",
                error.endpoint,
                refused_size,
                "" if match else "below ",
                self.max_bytes,
            )


def _halves(batch: Batch) -> tuple[Batch, Batch]:
    # The body is "[" + orders joined by "," + "]"; batch.ends holds where each order ends.
    middle = batch.count // 2
    cut = batch.ends[middle - 1]
    first = Batch(batch.number, batch.body[:cut] + b"]", middle, batch.resend_safe, batch.ends[:middle])
    # The second half drops "[" + the first orders + ",", then gains a "[": offsets move by cut.
    second = Batch(
        batch.number,
        b"[" + batch.body[cut + 1 :],
        batch.count - middle,
        batch.resend_safe,
        tuple(end - cut for end in batch.ends[middle:]),
    )
    return first, second


def send_within_limit(send: SendBody, batch: Batch, limit: BodyLimit, log: logging.Logger | Any) -> list[str]:
    """Send ``batch``, split in halves on each 413; return the async action id of every request.

    :raises OrderTooLargeError: when a single order is larger than the API takes
    :raises VoucherifyApiError: any other refusal, as the hook raised it
    """
    action_ids: list[str] = []
    pending = [batch]
    while pending:
        part = pending.pop()
        if len(part.body) > limit.max_bytes and part.count > 1:
            # Cut before a 413 taught the limit: split without sending a body known to be too large.
            pending += reversed(_halves(part))
            continue
        try:
            action_ids.append(send(part.body, part.count, part.resend_safe))
        except VoucherifyApiError as error:
            if error.status_code != 413:
                raise
            limit.learn(error, len(part.body), log)
            if part.count == 1:
                raise OrderTooLargeError(
                    f"An order of {len(part.body) - 2} bytes is larger than the import's body limit "
                    f"({limit.max_bytes} bytes, from the API's 413): shrink it (metadata, items)"
                ) from error
            pending += reversed(_halves(part))  # the first half goes first: orders keep their order
    return action_ids
