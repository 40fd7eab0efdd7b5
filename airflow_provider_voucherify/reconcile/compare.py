"""An order as it was sent, compared field by field with the order Voucherify returns: pure, no I/O.

The stored side is the body of ``GET /v1/orders/{id}``: an order object whose ``customer`` and
``referrer`` carry only Voucherify's ``id`` (their ``source_id`` and profile need the customer
object, ``GET /v1/customers/{id}``, passed in through ``lookup_customer``).

What is compared is what was sent, nothing else:

- the order's ``id``, ``source_id``, ``status``, ``amount``, ``initial_amount``, ``discount_amount``;
- the number of items, and per item (by position) its identity (``product_id``, ``sku_id``,
  ``source_id``, ``related_object``, and the ``id`` / ``source_id`` of an inline ``product`` or
  ``sku``), ``quantity``, ``discount_quantity``, ``initial_quantity``, ``price``, ``amount``,
  ``discount_amount``, ``initial_amount`` and ``metadata``. An inline product's or SKU's name and
  price are catalog data, which a later order may override: they are not compared;
- every metadata key sent (extra stored keys are fine), dates compared as instants
  (``2024-01-05T10:00:00+00:00`` and ``2024-01-05T10:00:00.000Z`` are the same), and a number or
  boolean stored as its text (``5`` as ``"5"``, which the API does with undefined keys) the same;
- the customer's and referrer's ``id`` / ``source_id``, and each profile field sent (name, email,
  phone, address, birthdate, description, metadata), which are personal data: a difference there
  is shown as ``differs``, never with the values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_voucherify.formats import parse_datetime

MISSING = "(missing)"
NOT_SHOWN = "(not shown)"
DIFFERS = "differs"
MAX_SHOWN = 40

ORDER_FIELDS = ("id", "source_id", "status", "amount", "initial_amount", "discount_amount")
ITEM_FIELDS = (
    "product_id", "sku_id", "source_id", "related_object", "quantity", "discount_quantity",
    "initial_quantity", "price", "amount", "discount_amount", "initial_amount",
)  # fmt: skip
CATALOG_IDENTITY = ("id", "source_id")
PARTIES = ("customer", "referrer")

# Only texts that start as a date on both sides are compared as instants (a cheap test first).
_DATE_FIRST = re.compile(r"\d{4}-\d{2}-\d{2}")

CustomerLookup = Callable[[str], "Mapping[str, Any] | None"]


@dataclass(frozen=True)
class Difference:
    """One field of one order that Voucherify does not hold as sent; values rendered for a log."""

    source_id: str
    field: str
    sent: str
    stored: str


def shown(value: Any) -> str:
    """A value as a table cell: JSON for non-strings, cut to ``MAX_SHOWN`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def instant(text: str) -> datetime | None:
    """A date or date-time text as an aware datetime (UTC when it names no zone), read by the
    package's one date parser; ``None`` if it is not one."""
    if not _DATE_FIRST.match(text):
        return None
    try:
        return parse_datetime(text)
    except ValueError:
        return None


def same_value(sent: Any, stored: Any) -> bool:
    """Whether a stored metadata (or profile) value holds what was sent (see the module docstring)."""
    if isinstance(sent, Mapping):
        return isinstance(stored, Mapping) and all(
            key in stored and same_value(value, stored[key]) for key, value in sent.items()
        )
    if isinstance(sent, list):
        return (
            isinstance(stored, list)
            and len(sent) == len(stored)
            and all(same_value(a, b) for a, b in zip(sent, stored, strict=True))
        )
    if type(sent) is type(stored) or (_is_number(sent) and _is_number(stored)):
        if sent == stored:
            return True
        if isinstance(sent, str):
            when_sent, when_stored = instant(sent), instant(stored)
            return when_sent is not None and when_sent == when_stored
        return False
    if isinstance(stored, str) and isinstance(sent, (bool, int, float)):
        return stored == json.dumps(sent) or (_is_number(sent) and _as_number(stored) == sent)
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class _Differences:
    def __init__(self, source_id: str) -> None:
        self.source_id = source_id
        self.found: list[Difference] = []

    def add(self, field: str, sent: Any, stored: Any, *, personal: bool = False) -> None:
        if personal:
            sent_cell, stored_cell = NOT_SHOWN, MISSING if stored is _ABSENT else DIFFERS
        else:
            sent_cell = shown(sent)
            stored_cell = MISSING if stored is _ABSENT else shown(stored)
        self.found.append(Difference(self.source_id, field, sent_cell, stored_cell))

    def exact(self, field: str, sent: Any, stored: Mapping[str, Any], key: str) -> None:
        value = stored.get(key, _ABSENT)
        if value is _ABSENT or value != sent or isinstance(value, bool) is not isinstance(sent, bool):
            self.add(field, sent, value)

    def metadata(self, field: str, sent: Mapping[str, Any], stored: Any, *, personal: bool = False) -> None:
        held = stored if isinstance(stored, Mapping) else {}
        for key, value in sent.items():
            got = held.get(key, _ABSENT)
            if got is _ABSENT or not same_value(value, got):
                self.add(f"{field}.{key}", value, got, personal=personal)


_ABSENT: Any = object()


def compare_order(
    source_id: str,
    sent: Mapping[str, Any],
    stored: Mapping[str, Any] | None,
    *,
    profiles: Mapping[str, Mapping[str, Any]] | None = None,
    lookup_customer: CustomerLookup | None = None,
) -> list[Difference]:
    """The differences between ``sent`` (an import's order JSON) and ``stored`` (``None``: not found).

    :param profiles: per party (``"customer"``, ``"referrer"``) the fields Voucherify should hold
        for it, when later orders of the same file updated them; by default the order's own
    :param lookup_customer: customer id -> ``GET /v1/customers/{id}`` body (``None`` if not found);
        without it, customers and referrers are checked by id only
    """
    found = _Differences(source_id)
    if stored is None:
        found.add("order", "present", _ABSENT)
        return found.found
    for key in ORDER_FIELDS:
        if key in sent:
            found.exact(key, sent[key], stored, key)
    if "items" in sent:
        _items(found, sent["items"], stored.get("items"))
    if "metadata" in sent:
        found.metadata("metadata", sent["metadata"], stored.get("metadata"))
    for role in PARTIES:
        profile = (profiles or {}).get(role, sent.get(role))
        _party(found, role, sent, profile, stored, lookup_customer)
    return found.found


def _items(found: _Differences, sent: list[Mapping[str, Any]], stored: Any) -> None:
    held: list[Any] = stored if isinstance(stored, list) else []
    if len(held) != len(sent):
        found.add("items", f"{len(sent)} items", f"{len(held)} items")
    for position, (item, got) in enumerate(zip(sent, held, strict=False)):
        got = got if isinstance(got, Mapping) else {}
        prefix = f"items[{position}]"
        for key in ITEM_FIELDS:
            if key in item:
                found.exact(f"{prefix}.{key}", item[key], got, key)
        for kind in ("product", "sku"):
            inline = item.get(kind)
            if inline:
                _catalog_identity(found, f"{prefix}.{kind}", kind, inline, got)
        if "metadata" in item:
            found.metadata(f"{prefix}.metadata", item["metadata"], got.get("metadata"))


def _catalog_identity(
    found: _Differences, field: str, kind: str, inline: Mapping[str, Any], got: Mapping[str, Any]
) -> None:
    held = got.get(kind)
    stored_inline: Mapping[str, Any] = held if isinstance(held, Mapping) else {}
    for key in CATALOG_IDENTITY:
        if key not in inline:
            continue
        value = stored_inline.get(key, _ABSENT)
        if value is _ABSENT:
            # The item names its product or SKU by its own fields instead of an inline object.
            value = got.get(f"{kind}_id", _ABSENT) if key == "id" else _ABSENT
            if key == "source_id" and got.get("related_object") == kind:
                value = got.get("source_id", _ABSENT)
        if value is _ABSENT or value != inline[key]:
            found.add(f"{field}.{key}", inline[key], value)


def _party(
    found: _Differences,
    role: str,
    sent: Mapping[str, Any],
    profile: Mapping[str, Any] | None,
    stored: Mapping[str, Any],
    lookup: CustomerLookup | None,
) -> None:
    link = stored.get(role)
    stored_id = stored.get(f"{role}_id") or (link.get("id") if isinstance(link, Mapping) else None)
    if f"{role}_id" in sent and sent[f"{role}_id"] != stored_id:
        found.add(f"{role}_id", sent[f"{role}_id"], stored_id if stored_id else _ABSENT)
    party = sent.get(role)
    if not party:
        return
    if stored_id is None:
        found.add(role, party.get("source_id") or party.get("id") or "present", _ABSENT)
        return
    if "id" in party and party["id"] != stored_id:
        found.add(f"{role}.id", party["id"], stored_id)
    wanted = {key: value for key, value in (profile or party).items() if key != "id"}
    if not wanted or lookup is None:
        return
    customer = lookup(stored_id)
    if customer is None:
        found.add(role, party.get("source_id") or stored_id, _ABSENT)
        return
    for key, value in wanted.items():
        got = customer.get(key, _ABSENT)
        if key == "source_id":
            if got != value:
                found.add(f"{role}.source_id", value, got)
        elif isinstance(value, Mapping):
            found.metadata(f"{role}.{key}", value, got, personal=True)
        elif got is _ABSENT or not same_value(value, got):
            found.add(f"{role}.{key}", value, got, personal=True)
