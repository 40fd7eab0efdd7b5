"""A uniform random sample of the orders an import sent, drawn while streaming them: pure, no I/O.

Records go through the import's own pipeline (:class:`~airflow_provider_voucherify.operators.
_pipeline.ImportRules`: validation with ``created_at`` moved into metadata, the metadata-schema
check, the same batch cuts), so each sampled order is the JSON the import sent. Memory holds at most
``size`` orders whatever the size of the input (reservoir sampling, algorithm R), plus the source
ids of the orders Voucherify refused (kept out of the sample: they are not meant to be stored).

Two things a later line of the same input changes, and the sample follows:

- the same ``source_id`` again: the import upserts, so Voucherify holds the later order; a sampled
  order is replaced by its later version instead of being sampled twice;
- the same customer (or referrer) again: each imported order overwrites the fields it carries of
  the customer's profile, so the profile a sampled order is compared with is its own, updated by
  every later order naming that customer.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_provider_voucherify.exceptions import InvalidOrderError
from airflow_provider_voucherify.importing.pipeline import ImportRules
from airflow_provider_voucherify.importing.source import Record
from airflow_provider_voucherify.importing.validation import Counts, OrderCheck
from airflow_provider_voucherify.models import Order

PartyKey = tuple[str, str]  # ("source_id", value) or ("id", value)
MAX_LISTED_INVALID = 10


@dataclass
class SampledOrder:
    """One sampled order: where it is in the input and the JSON the import sent for it."""

    source_id: str
    line: int
    body: bytes
    parties: dict[str, PartyKey]  # role ("customer" / "referrer") -> key

    def sent(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class SourceCounts:
    """What reading the input found.

    ``valid`` records are what the import sent; ``invalid`` ones it would have rejected (never
    sent); ``refused`` are valid orders Voucherify reported as failed; ``without_source_id``
    cannot be read back, so they are never sampled.
    """

    read: int = 0
    valid: int = 0
    invalid: int = 0
    refused: int = 0
    without_source_id: int = 0
    invalid_examples: list[tuple[int, str | None]] = field(default_factory=list)


@dataclass
class _Party:
    refs: int = 0
    fields: dict[str, Any] = field(default_factory=dict)


def _party_key(party: Any) -> PartyKey | None:
    if party is None:
        return None
    if party.source_id is not None:
        return ("source_id", party.source_id)
    if party.id is not None:
        return ("id", party.id)
    return None


class OrderSample:
    """A reservoir of at most ``size`` orders, each with the profile its customers should have.

    :param size: orders to keep (0 keeps none)
    :param seed: makes the draw repeatable (any ``random.Random`` seed: an int, a run id...)
    :param only: instead of drawing, keep exactly the orders with these source ids (a sample
        drawn before, found again in the same input after a deferral)
    """

    def __init__(self, size: int, seed: int | str | None = None, only: Collection[str] | None = None) -> None:
        if size < 0:
            raise ValueError(f"size must not be negative, got {size}")
        self.size = size
        self.only = frozenset(only) if only is not None else None
        self.candidates = 0  # orders offered that were not already in the sample
        self._rng = random.Random(seed)
        self._entries: list[SampledOrder] = []
        self._slots: dict[str, int] = {}
        self._parties: dict[PartyKey, _Party] = {}

    @property
    def orders(self) -> list[SampledOrder]:
        return list(self._entries)

    @property
    def is_census(self) -> bool:
        """Whether every order offered is in the sample (nothing was left out by the draw)."""
        return self.candidates <= self.size

    def profiles(self, entry: SampledOrder) -> dict[str, dict[str, Any]]:
        """Per role, the profile fields Voucherify should hold for this order's customer or referrer."""
        return {role: dict(self._parties[key].fields) for role, key in entry.parties.items()}

    def offer(self, order: Order, body: bytes, line: int) -> None:
        """Consider one order the import sent (it must have a ``source_id``)."""
        source_id = order.source_id
        assert source_id is not None
        keys = {role: key for role in ("customer", "referrer") if (key := _party_key(getattr(order, role)))}
        slot = self._slots.get(source_id)
        if slot is None:
            self.candidates += 1
            if self.only is not None:
                if source_id in self.only:
                    slot = len(self._entries)
                    self._entries.append(SampledOrder(source_id, line, body, keys))
            elif len(self._entries) < self.size:
                slot = len(self._entries)
                self._entries.append(SampledOrder(source_id, line, body, keys))
            elif self.size and (drawn := self._rng.randrange(self.candidates)) < self.size:
                slot = drawn
                evicted = self._entries[slot]
                del self._slots[evicted.source_id]
                self._release(evicted)
        else:
            self._release(self._entries[slot])
        if slot is not None:
            self._entries[slot] = SampledOrder(source_id, line, body, keys)
            self._slots[source_id] = slot
            for key in keys.values():
                self._parties.setdefault(key, _Party()).refs += 1
        for role, key in keys.items():
            if (tracked := self._parties.get(key)) is not None:
                tracked.fields.update(getattr(order, role).model_dump(mode="json", exclude_none=True))

    def _release(self, entry: SampledOrder) -> None:
        for key in entry.parties.values():
            party = self._parties[key]
            party.refs -= 1
            if party.refs == 0:
                del self._parties[key]


class _Examples:
    """The first invalid records, for the log (a ``Rejects`` that keeps line and source_id only)."""

    location = "the reconciliation's log"

    def __init__(self, kept: list[tuple[int, str | None]]) -> None:
        self.kept = kept

    def write(self, error: InvalidOrderError) -> None:
        if len(self.kept) < MAX_LISTED_INVALID:
            self.kept.append((error.line or 0, error.source_id))


def draw_sample(
    records: Iterable[tuple[int, Record]],
    *,
    size: int,
    seed: int | str | None = None,
    refused: Collection[str] = (),
    rules: ImportRules | None = None,
    check: OrderCheck | None = None,
    only: Collection[str] | None = None,
    on_sent: Callable[[Order, bytes, int], None] | None = None,
) -> tuple[SourceCounts, OrderSample]:
    """Read every record as the import did and draw the sample from the orders it sent.

    The records go through the import's own pipeline (:meth:`~airflow_provider_voucherify.
    importing.pipeline.ImportRules.batches`): the same validation, the same schema check and the
    same batch cuts, so an order the import rejected (a ``source_id`` repeated within one batch,
    metadata the schema refuses) is counted invalid here too, never as sent.

    :param records: ``(line, record)`` pairs, as :class:`~airflow_provider_voucherify.operators.
        _source.OrderSource` yields them
    :param refused: source ids Voucherify reported as failed: counted as sent, never sampled
    :param rules: the import's settings (batch size, ``require_source_id``,
        ``created_at_metadata_key``; default: the import's defaults); its invalid-record policy
        is ignored: every invalid record is counted and read past
    :param check: the import's preflight check (the project's metadata schemas), if it ran one
    :param only: keep exactly the orders with these source ids instead of drawing (see
        :class:`OrderSample`)
    :param on_sent: told of every order offered to the sample (sent, with a ``source_id``, not
        refused): the order, the JSON the import sent, its line
    """
    counts, sample, seen = SourceCounts(), OrderSample(size, seed, only), Counts()

    def offer(order: Order, body: bytes, line: int) -> None:
        if order.source_id is None:
            counts.without_source_id += 1
        elif order.source_id in refused:
            counts.refused += 1
        else:
            sample.offer(order, body, line)
            if on_sent is not None:
                on_sent(order, body, line)

    everything = replace(rules or ImportRules(), on_invalid="skip", max_invalid=sys.maxsize)
    examples = _Examples(counts.invalid_examples)
    for _ in everything.batches(records, counts=seen, rejects=examples, check=check, on_valid=offer):
        pass  # the batches themselves were sent by the import; only their orders matter here
    counts.read, counts.valid, counts.invalid = seen.read, seen.valid, seen.invalid
    return counts, sample
