"""Customer links checked for free: the same ``source_id`` sent must mean the same stored customer.

``GET /v1/orders/{id}`` shows an order's customer and referrer by Voucherify's ``id`` only, so
checking their ``source_id`` costs one ``GET /v1/customers/{id}`` each. Without those reads, the
order reads alone still prove something: every sampled order sent with customer (or referrer)
``source_id`` X must point at one and the same stored customer, and orders sent with different
source ids at different customers (customers and referrers share one key space: both are
customers).

Once every sampled order is compared, :meth:`PartyLinks.differences` names the odd ones out: among
the orders sent with one ``source_id``, those pointing at another customer than most of them do;
then, among the orders pointing at one stored customer, those sent with another ``source_id`` than
most of them. A mix-up is a difference on the field ``customer`` (or ``referrer``) naming another
order and the stored ids, never the customer's ``source_id`` (often an email): only a digest of it
is kept, so the state can travel with a deferral.

Pure, no I/O.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_voucherify.reconcile.compare import PARTIES, Difference

DIGEST_CHARS = 20


def stored_party_id(stored: Mapping[str, Any], role: str) -> str | None:
    """The Voucherify id of ``role`` (``"customer"`` / ``"referrer"``) in an order as stored."""
    link = stored.get(role)
    found = stored.get(f"{role}_id") or (link.get("id") if isinstance(link, Mapping) else None)
    return str(found) if found else None


def digest(source_id: str) -> str:
    """A short, one-way stand-in for a customer's ``source_id`` (which may be personal data)."""
    return hashlib.sha256(source_id.encode()).hexdigest()[:DIGEST_CHARS]


@dataclass
class PartyLinks:
    """The customer links the compared orders showed.

    :param seen: ``[order source_id, role, digest of the sent source_id, stored customer id]``
    """

    seen: list[list[str]] = field(default_factory=list)

    def record(self, source_id: str, sent: Mapping[str, Any], stored: Mapping[str, Any]) -> None:
        """Note the links of one compared order (``source_id``): sent as ``sent``, held as ``stored``."""
        for role in PARTIES:
            party = sent.get(role)
            party_source = party.get("source_id") if isinstance(party, Mapping) else None
            stored_id = stored_party_id(stored, role)
            if isinstance(party_source, str) and stored_id is not None:
                # No source_id sent, or no link stored: compare_order covers those.
                self.seen.append([source_id, role, digest(party_source), stored_id])

    def differences(self) -> list[Difference]:
        """The mix-ups among the links seen, one row per odd order and role (see the module)."""
        found: list[Difference] = []
        odd: set[int] = set()
        for at, (others, majority) in _odd_ones(self.seen, key=2, value=3).items():
            source_id, role, _, stored_id = self.seen[at]
            odd.add(at)
            sent = f"the same customer as {others}'s"
            found.append(Difference(source_id, role, sent, f"{stored_id}, not {majority}"))
        kept = [link if at not in odd else None for at, link in enumerate(self.seen)]
        for at, (others, _) in _odd_ones(kept, key=3, value=2).items():
            source_id, role, _, stored_id = self.seen[at]
            sent = f"another customer than {others}'s"
            found.append(Difference(source_id, role, sent, f"{stored_id}, the same"))
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"seen": self.seen}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> PartyLinks:
        return cls([list(link) for link in (data or {}).get("seen", [])])


def _odd_ones(links: Sequence[list[str] | None], *, key: int, value: int) -> dict[int, tuple[str, str]]:
    """Positions of the links whose ``value`` differs from the most common one of their ``key``
    group (ties: the first seen), each with an order showing that common value, and the value."""
    groups: dict[str, Counter[str]] = {}
    first: dict[tuple[str, str], str] = {}
    for link in links:
        if link is not None:
            groups.setdefault(link[key], Counter())[link[value]] += 1
            first.setdefault((link[key], link[value]), link[0])
    odd: dict[int, tuple[str, str]] = {}
    for at, link in enumerate(links):
        if link is None or len(groups[link[key]]) == 1:
            continue
        common = groups[link[key]].most_common(1)[0][0]
        if link[value] != common:
            odd[at] = (first[(link[key], common)], common)
    return odd
