"""Where an import stands, so that it can continue after a rate-limit wait without redoing work.

When Voucherify refuses batch ``k`` for a rate limit, the operator defers (or sleeps) and then
continues at batch ``k``. It must not read, validate and serialize batches ``1 .. k-1`` again
to find its place: :class:`Checkpoints` records, for the batch being sent, where its first record
starts (line number, byte offset in the file, decompressed for gzip) and the record counts up to
there, and a continuing try seeks straight to it. :class:`SourceIdentity` (size, modification
time, SHA-256 of the first 64 KiB) proves the file is still the one the offset was taken in.

Everything here is plain data that survives a deferral as JSON (the trigger's ``kwargs``).

**Restarts** (:func:`restart`): where a retry starts reading, after the batches an earlier try
sent, without reading them again. With each accepted batch the ledger records where the batch
ended in its source (the :class:`Position` the next batch starts at: line, byte offset, records
read, valid and invalid) and the source's :class:`SourceIdentity`::

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

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, astuple, dataclass, field, fields, replace
from typing import Any

from airflow_provider_voucherify.exceptions import VoucherifyError
from airflow_provider_voucherify.importing.batching import Batch
from airflow_provider_voucherify.importing.source import OrderSource, Record, is_stored
from airflow_provider_voucherify.importing.validation import Counts

HEAD_BYTES = 64 * 1024


class SourceChangedError(VoucherifyError):
    """The orders file changed while the import waited: its recorded position means nothing now."""


@dataclass(frozen=True)
class SourceIdentity:
    """Enough of a source to tell whether it is still the same: size, mtime, hash of its head.

    For a list of orders only its length is kept (a list cannot change between tries of one run
    without its DAG changing).
    """

    size: int | None
    modified_ns: int | None = None
    head_sha256: str | None = None

    @classmethod
    def of(cls, source: OrderSource) -> SourceIdentity:
        if source.path is None:
            return cls(size=source.total)
        path = source.path
        size, modified = source.size, None
        if not is_stored(path):
            stat = os.stat(path)
            size, modified = stat.st_size, stat.st_mtime_ns
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
        return cls(size=size, modified_ns=modified, head_sha256=hashlib.sha256(head).hexdigest())


@dataclass(frozen=True)
class Position:
    """The start of a batch: what was read before it, and where its first record begins.

    :param batch: batches before this point (the batch starting here is number ``batch + 1``)
    :param line: 1-based line (or list position) of the batch's first record
    :param offset: byte offset of that line in the file (decompressed for gzip); ``None`` for a list
    :param read: records read before this point (valid and invalid)
    :param valid: valid records before this point
    :param invalid: invalid records before this point
    """

    batch: int = 0
    line: int = 1
    offset: int | None = 0
    read: int = 0
    valid: int = 0
    invalid: int = 0

    def counts(self) -> Counts:
        return Counts(read=self.read, valid=self.valid, invalid=self.invalid)


@dataclass
class Continuation:
    """What a continuing try needs: the position, the source's identity, what was done so far.

    :param position: where the batch the rate limit refused starts
    :param action_ids: async action ids of the batches before it
    :param sent: orders posted so far, by every try of this run
    :param skipped: orders in batches an earlier (failed) try had sent
    :param plan: the :class:`~airflow_provider_voucherify.importing.plan_view.PlanView`, as a dict
    :param waits: rate-limit waits so far
    """

    position: Position = field(default_factory=Position)
    identity: SourceIdentity | None = None
    action_ids: list[str] = field(default_factory=list)
    sent: int = 0
    skipped: int = 0
    plan: dict[str, Any] = field(default_factory=dict)
    waits: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``BaseOperator.defer(kwargs=...)``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Continuation:
        identity = data.get("identity")
        return cls(
            position=Position(**data.get("position", {})),
            identity=SourceIdentity(**identity) if identity else None,
            action_ids=list(data.get("action_ids", [])),
            sent=int(data.get("sent", 0)),
            skipped=int(data.get("skipped", 0)),
            plan=dict(data.get("plan") or {}),
            waits=int(data.get("waits", 0)),
        )


class Checkpoints:
    """Follows an import's records and batches, knowing where the current batch started.

    Wrap the source's records with :meth:`records` and the batches made from them with
    :meth:`batches`. The batching is lazy with one record of look-ahead: a batch comes out when
    the first record of the next one has been read, so at that moment that record's line and
    offset are where the next batch starts, and the counts hold exactly that one record more.

    :param source: an entered :class:`OrderSource`
    :param start: where to start; anything but the beginning seeks there (after checking that
        ``identity`` still matches the source)
    :param identity: the source's identity when ``start`` was recorded
    :param known: the source's identity now, when already read
    :raises SourceChangedError: if the source is not the one ``start`` was recorded in
    """

    def __init__(
        self,
        source: OrderSource,
        start: Position,
        identity: SourceIdentity | None = None,
        *,
        known: SourceIdentity | None = None,
    ) -> None:
        self.source = source
        self.identity = known or SourceIdentity.of(source)
        if start.batch:
            if identity != self.identity:
                raise SourceChangedError(
                    f"The orders source changed while the import waited for a rate limit (was "
                    f"{identity}, now {self.identity}): it cannot continue after batch {start.batch}. "
                    "Restore the file, or clear the task to import it from the start."
                )
            source.skip_to(start.offset, start.line)
        self.current = start
        self.following = start
        self._latest: tuple[int, Record] | None = None
        self._exhausted = False

    def records(self) -> Iterator[tuple[int, Record]]:
        """The source's ``(line, record)`` pairs, unchanged; the last one read is remembered."""
        for item in self.source:
            self._latest = item
            yield item
        self._exhausted = True

    def batches(self, made: Iterable[Batch], counts: Counts) -> Iterator[Batch]:
        """The batches, numbered on from the start position; :attr:`current` is where each began,
        :attr:`following` where the batch after it begins (its end).

        :param counts: the running counts of the validation step feeding ``made``
        """
        base = self.current.batch
        for batch in made:
            self.current = self.following
            self.following = self._after(batch.number + base, counts)
            yield batch if not base else replace(batch, number=batch.number + base)

    def _after(self, batches_done: int, counts: Counts) -> Position:
        """Where the batch after ``batches_done`` starts: at the record read last (look-ahead), or
        at the end of the source once it was read to its end (the last batch comes out then)."""
        if self._exhausted:
            line = self._latest[0] + 1 if self._latest is not None else self.current.line
            return Position(batches_done, line, self.source.position(), *astuple(counts))
        if self._latest is None:
            return Position(batch=batches_done)
        line, record = self._latest
        stream_at = self.source.position()
        offset = stream_at - len(record) if stream_at is not None and isinstance(record, bytes) else None
        return Position(
            batch=batches_done,
            line=line,
            offset=offset,
            read=counts.read - 1,
            valid=counts.valid - 1,
            invalid=counts.invalid,
        )


@dataclass(frozen=True)
class Restart:
    """Where a retry starts, and what the batches it skips unread hold."""

    continuation: Continuation
    batches: int

    def describe(self) -> str:
        """The log line of a retry that starts here."""
        return (
            f"Batches 1 to {self.batches} were accepted by earlier tries, read from this very file: "
            f"reading on at line {self.continuation.position.line} (batch {self.batches + 1}) without "
            "reading them again"
        )


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
