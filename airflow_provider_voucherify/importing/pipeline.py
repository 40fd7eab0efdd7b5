"""The import's way from records to request bodies, as one piece: validation, then batch cutting.

Which records an import sends depends on more than each record: the project's metadata schemas
(the preflight check) and where batches are cut (an order repeating a ``source_id`` of the batch
being filled is refused, so the cut decides). The real run, the dry run and
:class:`~airflow_provider_voucherify.operators.reconcile_orders.ReconcileOrdersOperator` all go
through :meth:`ImportRules.batches`, so the three agree on what was, or would be, sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from airflow_provider_voucherify.importing.batching import Batch, MaxBytes, batches
from airflow_provider_voucherify.importing.rejects import Rejects
from airflow_provider_voucherify.importing.source import Record
from airflow_provider_voucherify.importing.validation import (
    Counts,
    OnInvalid,
    OnValid,
    OrderCheck,
    SourceIdsInBatch,
    serialized_orders,
)
from airflow_provider_voucherify.models import MAX_ORDERS_PER_IMPORT


@dataclass(frozen=True)
class ImportRules:
    """The settings of an import that decide which records it sends and how it cuts them.

    :param batch_size: orders per ``POST /v1/orders/import`` request (at most 2000)
    :param on_invalid: ``"fail"`` or ``"skip"`` (see ``serialized_orders``)
    :param max_invalid: invalid records tolerated with ``"skip"``
    :param require_source_id: an order without ``source_id`` is invalid
    :param created_at_metadata_key: where ``created_at`` moves in metadata (``None``: dropped)
    :param historical_before: an order whose ``created_at`` is at or after this moment is invalid:
        it belongs to on-going sync through the orders API (``None``: no check)
    """

    batch_size: int = MAX_ORDERS_PER_IMPORT
    on_invalid: OnInvalid = "fail"
    max_invalid: int = 0
    require_source_id: bool = True
    created_at_metadata_key: str | None = "original_created_at"
    historical_before: datetime | None = None

    def batches(
        self,
        records: Iterable[tuple[int, Record]],
        *,
        counts: Counts,
        rejects: Rejects | None = None,
        check: OrderCheck | None = None,
        body_limit: MaxBytes | None = None,
        on_valid: OnValid | None = None,
    ) -> Iterator[Batch]:
        """Validate ``(line, record)`` pairs and cut the valid orders into request bodies.

        :param counts: updated as records go by (read, valid, invalid)
        :param rejects: receives each invalid record (never its content)
        :param check: the project's rules beyond the model (the preflight's metadata schemas)
        :param body_limit: the body limit learned from a 413 so far (10 MiB until then)
        :param on_valid: told of each order that goes into a batch, with its JSON and line
        :raises InvalidOrderError: as ``on_invalid`` and ``max_invalid`` say
        """
        in_batch = SourceIdsInBatch(self.batch_size)
        valid = serialized_orders(
            records,
            counts=counts,
            on_invalid=self.on_invalid,
            max_invalid=self.max_invalid,
            rejects=rejects,
            require_source_id=self.require_source_id,
            created_at_metadata_key=self.created_at_metadata_key,
            in_batch=in_batch,
            check=check,
            on_valid=on_valid,
            historical_before=self.historical_before,
        )
        return batches(valid, batch_size=self.batch_size, body_limit=body_limit, on_cut=in_batch.batch_cut)
