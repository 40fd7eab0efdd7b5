"""Where a reconciliation stands, as plain data that survives a deferral (the trigger's ``kwargs``).

A reconciliation runs in two stages. The first reads the async actions and the input (drawing the
sample); it is short (one call per action, the schema reads) and is done again whole if a rate
limit interrupts it. Its outcome is small: the counts, the sampled orders' ``source_id`` (at most
``sample_size``), and the count problem if any. The second reads the sampled orders back; its
progress is a :class:`~airflow_provider_voucherify.reconcile.check.SampleResult`. A continuing try
reads the input again to find the sampled orders' JSON (never carried: it holds personal data).

Nothing personal is kept: order source ids, counts, the seed, the difference rows (which show
personal fields as ``differs``), digests of customer source ids.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_voucherify.reconcile.check import SampleResult
from airflow_provider_voucherify.reconcile.sample import SourceCounts

SEED_RANGE = 2**32


@dataclass
class Drawn:
    """The first stage's outcome: what the actions and the input said, and which orders were drawn.

    :param done: and ``failed``, ``failed_without_source_id``: summed over the actions
    :param counts: the input's :class:`~airflow_provider_voucherify.reconcile.sample.SourceCounts`
    :param count_problem: why the counts do not add up (``None``: they do)
    :param sample_ids: the sampled orders' source ids
    :param census: whether every order sent is in the sample
    """

    done: int
    failed: int
    failed_without_source_id: int
    counts: SourceCounts
    count_problem: str | None
    sample_ids: list[str]
    census: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Drawn:
        counts = dict(data["counts"])
        examples = [(int(line), source_id) for line, source_id in counts.pop("invalid_examples", [])]
        return cls(
            done=int(data["done"]),
            failed=int(data["failed"]),
            failed_without_source_id=int(data["failed_without_source_id"]),
            counts=SourceCounts(**counts, invalid_examples=examples),
            count_problem=data.get("count_problem"),
            sample_ids=list(data["sample_ids"]),
            census=bool(data["census"]),
        )


@dataclass
class ReconcileState:
    """Everything a continuing try needs.

    :param seed: the seed the sample is drawn with (picked at random when none was given, and
        kept, so that a repeated draw is the same)
    :param drawn: the first stage's outcome, once it finished
    :param result: the orders compared so far
    :param waits: rate-limit waits so far
    :param exports: with ``method="export"``, the exports created, by exported object
        (``{"order": "exp_...", "customer": "exp_..."}``); ``None`` before they are
    :param refused: with ``method="export"``, the source ids of the orders Voucherify refused
        (left out of the comparison: the failed orders file lists them)
    """

    seed: int | str
    drawn: Drawn | None = None
    result: SampleResult = field(default_factory=SampleResult)
    waits: int = 0
    exports: dict[str, str] | None = None
    refused: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, seed: int | str | None) -> ReconcileState:
        return cls(seed=seed if seed is not None else random.randrange(SEED_RANGE))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``BaseOperator.defer(kwargs=...)``."""
        return {
            "seed": self.seed,
            "drawn": self.drawn.to_dict() if self.drawn is not None else None,
            "result": self.result.to_dict(),
            "waits": self.waits,
            "exports": self.exports,
            "refused": list(self.refused),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReconcileState:
        drawn = data.get("drawn")
        return cls(
            seed=data["seed"],
            drawn=Drawn.from_dict(drawn) if drawn else None,
            result=SampleResult.from_dict(data.get("result") or {}),
            waits=int(data.get("waits", 0)),
            exports=dict(data["exports"]) if data.get("exports") else None,
            refused=list(data.get("refused") or []),
        )

    def reads_left(self, actions: int, sample_size: int) -> int:
        """Order and action reads still to make (customer and schema reads not counted)."""
        if self.drawn is None:
            return actions + sample_size
        return len(self.drawn.sample_ids) - len(self.result.compared)
