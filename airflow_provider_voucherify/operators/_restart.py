"""Where a retry starts reading: after the batches an earlier try sent, without reading them again.

With each accepted batch the ledger records where the batch ended in its source (the
:class:`~airflow_provider_voucherify.operators._continuation.Position` the next batch starts at:
line, byte offset, records read, valid and invalid) and the source's
:class:`~airflow_provider_voucherify.operators._continuation.SourceIdentity` (size, modification
time, SHA-256 of the first 64 KiB)::

    {..., "count": 2000, "ends": {"batch": 3, "line": 6001, "offset": 2841733, "read": 6000,
     "valid": 6000, "invalid": 0}, "source": {"size": 904512, "modified_ns": ..., "head_sha256": "..."}}

A retry (after a worker was killed, say) reads the recorded actions' states as before; then, if
the leading batches ``1 .. m`` may all be skipped by the rule (same project, known there, not
``FAILED``) and were read from a file whose identity is the same now, it starts reading where
batch ``m`` ended instead of reading, validating and fingerprinting them again. Everything after
works as before: a later recorded batch is still recognised by its content. A list of orders, or
a file that changed, is read from its start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from airflow_provider_voucherify.operators._continuation import Continuation, Position, SourceIdentity


@dataclass(frozen=True)
class Restart:
    """Where a retry starts, and what the batches it skips unread hold."""

    continuation: Continuation
    batches: int


def where(count: int, ends: Position, identity: SourceIdentity) -> dict[str, Any]:
    """The keys a ledger entry gains: the batch's order count, where it ended, the source."""
    return {"count": count, "ends": asdict(ends), "source": asdict(identity)}


def _position(value: Any) -> Position | None:
    if not isinstance(value, Mapping):
        return None
    numbers: list[Any] = [value.get(f.name) for f in fields(Position)]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in numbers):
        return None  # a file position always has every field, the offset included
    return Position(*numbers)


def _identity(value: Any) -> SourceIdentity | None:
    if not isinstance(value, Mapping):
        return None
    try:
        return SourceIdentity(**{f.name: value.get(f.name) for f in fields(SourceIdentity)})
    except TypeError:
        return None


def restart(run: Sequence[Mapping[str, Any]], identity: SourceIdentity) -> Restart | None:
    """Where a retry reading the source of ``identity`` may start, given the ledger's leading run
    of skippable entries (``BatchLedger.leading_run``); ``None`` to read from the start.

    Only a file (an identity with a head hash) is sought: a list's identity is its length only.
    """
    if identity.head_sha256 is None:
        return None
    action_ids: list[str] = []
    skipped, ends = 0, None
    for number, entry in enumerate(run, start=1):
        position, count = _position(entry.get("ends")), entry.get("count")
        if position is None or position.batch != number or not isinstance(count, int):
            break
        if _identity(entry.get("source")) != identity:
            break
        action_ids.append(str(entry["async_action_id"]))
        skipped += count
        ends = position
    if ends is None:
        return None
    state = Continuation(position=ends, identity=identity, action_ids=action_ids, skipped=skipped)
    return Restart(state, len(action_ids))
