"""Customer links checked for free: the same ``source_id`` sent must mean the same stored customer.

``GET /v1/orders/{id}`` shows an order's customer and referrer by Voucherify's ``id`` only, so
checking their ``source_id`` costs one ``GET /v1/customers/{id}`` each. Without those reads, the
order reads alone still prove something: every sampled order sent with customer (or referrer)
``source_id`` X must point at one and the same stored customer, and orders sent with different
source ids at different customers (customers and referrers share one key space: both are
customers). A mix-up is a difference on the field ``customer`` (or ``referrer``) of the order where
it shows, naming the other order and the stored ids, never the customer's ``source_id`` (often an
email): :class:`PartyLinks` keeps only a digest of it, so its state can travel with a deferral.

Pure, no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
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
    """Which stored customer each sent customer ``source_id`` landed on, as far as the sample shows.

    :param by_sent: digest of a sent ``source_id`` -> ``[stored id, order source_id that showed it]``
    :param by_stored: stored customer id -> ``[digest, order source_id that showed it]``
    """

    by_sent: dict[str, list[str]] = field(default_factory=dict)
    by_stored: dict[str, list[str]] = field(default_factory=dict)

    def check(self, source_id: str, sent: Mapping[str, Any], stored: Mapping[str, Any]) -> list[Difference]:
        """Record the links of one order (``source_id``) and return the mix-ups they reveal."""
        found: list[Difference] = []
        for role in PARTIES:
            party = sent.get(role)
            party_source = party.get("source_id") if isinstance(party, Mapping) else None
            stored_id = stored_party_id(stored, role)
            if not isinstance(party_source, str) or stored_id is None:
                continue  # no source_id sent, or no link stored: compare_order reports the latter
            key = digest(party_source)
            known = self.by_sent.setdefault(key, [stored_id, source_id])
            if known[0] != stored_id:
                sent_as = f"the same customer as {known[1]}'s"
                found.append(Difference(source_id, role, sent_as, f"{stored_id}, not {known[0]}"))
                continue
            owner = self.by_stored.setdefault(stored_id, [key, source_id])
            if owner[0] != key:
                sent_as = f"another customer than {owner[1]}'s"
                found.append(Difference(source_id, role, sent_as, f"{stored_id}, the same"))
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"by_sent": self.by_sent, "by_stored": self.by_stored}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> PartyLinks:
        data = data or {}
        return cls(
            {k: list(v) for k, v in dict(data.get("by_sent", {})).items()},
            {k: list(v) for k, v in dict(data.get("by_stored", {})).items()},
        )
