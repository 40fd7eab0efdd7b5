"""The accept path of ``POST /v1/orders/import``: read a body, check it, write its canonical lines.

The accept path runs on the cores the client uses, in the process of the import worker whose thread
shares the GIL with it, so every millisecond it spends is one the client's worker waits for.
:func:`read_import` first reads the body in C, with one typed msgspec decode against the types
below: they are the rules of :mod:`~.validation` written as types, at least as strict as
:func:`~.validation.validate_import`, and they refuse fields they do not know, so the decoded
orders are the whole documents and are written back as the canonical lines directly, byte for
byte as :func:`~.bodies.canonical_lines` writes the standard reading.

A body the typed decode does not pass goes the reference way, :func:`~.bodies.read_body` then
``validate_import``, which alone decides what is refused and with which text. That is every invalid
body, and the valid ones the types are stricter about: an unknown field, ``1999.0`` as an amount,
``NaN``, a byte-order mark, a lone surrogate. The verdict and the message never depend on the fast
path; only the time does (a 2000-order body of the operator's: 2.4-3.2 times less than the reference
path, measured alternately in one process).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NamedTuple

import msgspec
from msgspec import UNSET, UnsetType

from airflow_provider_voucherify.emulator.bodies import (
    NotExact,
    canonical_lines,
    finite_js_number,
    read_body,
)
from airflow_provider_voucherify.emulator.config import MAX_ITEMS_PER_ORDER, MAX_ORDERS_PER_IMPORT
from airflow_provider_voucherify.emulator.validation import DATE_PATTERN, validate_import

# An absent field is UNSET (a rule skips it, the encoder leaves it out); a field the rules let be
# null says so with ``| None``. Every name is a field validation.py checks; no other is allowed.
_Amount = Annotated[int, msgspec.Meta(ge=0)]
_Quantity = Annotated[int, msgspec.Meta(ge=1)]
_Date = Annotated[str, msgspec.Meta(pattern=DATE_PATTERN)]  # msgspec's re.search of ^...$ is re.match
_Object = dict[str, Any]
# Plain JSON holds no reference cycles: the garbage collector need not track the orders.
_STRICT: Any = {"forbid_unknown_fields": True, "gc": False}


class _Party(msgspec.Struct, **_STRICT):
    """A customer or referrer."""

    id: str | UnsetType = UNSET
    source_id: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    phone: str | UnsetType = UNSET
    birthdate: _Date | UnsetType = UNSET
    birthday: _Date | UnsetType = UNSET
    address: _Object | UnsetType | None = UNSET
    metadata: _Object | UnsetType = UNSET


class _CatalogEntry(msgspec.Struct, **_STRICT):
    """An item's inline ``product`` or ``sku``."""

    id: str | UnsetType = UNSET
    source_id: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    sku: str | UnsetType = UNSET
    price: _Amount | UnsetType | None = UNSET
    override: bool | UnsetType = UNSET
    metadata: _Object | UnsetType = UNSET


class _Item(msgspec.Struct, **_STRICT):
    amount: _Amount | UnsetType = UNSET
    price: _Amount | UnsetType = UNSET
    discount_amount: _Amount | UnsetType = UNSET
    initial_amount: _Amount | UnsetType = UNSET
    quantity: _Quantity | UnsetType = UNSET
    initial_quantity: _Quantity | UnsetType = UNSET
    discount_quantity: _Amount | UnsetType = UNSET
    sku_id: str | UnsetType = UNSET
    product_id: str | UnsetType = UNSET
    source_id: str | UnsetType = UNSET
    related_object: Literal["product", "sku"] | UnsetType = UNSET
    product: _CatalogEntry | UnsetType = UNSET
    sku: _CatalogEntry | UnsetType = UNSET
    metadata: _Object | UnsetType = UNSET

    def __post_init__(self) -> None:
        # Neither may be null, so "given" is "present"; msgspec turns the error into a failed decode.
        if self.source_id is not UNSET and self.related_object is UNSET:
            raise ValueError("related_object is required when source_id is given")


class _Order(msgspec.Struct, **_STRICT):
    source_id: str | UnsetType | None = UNSET
    referrer_id: str | UnsetType | None = UNSET
    customer_id: UnsetType | None = UNSET
    id: str | UnsetType = UNSET
    status: Literal["CREATED", "PAID", "CANCELED", "FULFILLED"] | UnsetType = UNSET
    amount: _Amount | UnsetType = UNSET
    initial_amount: _Amount | UnsetType = UNSET
    discount_amount: _Amount | UnsetType = UNSET
    metadata: _Object | UnsetType = UNSET
    customer: _Party | UnsetType = UNSET
    referrer: _Party | UnsetType = UNSET
    items: Annotated[list[_Item], msgspec.Meta(max_length=MAX_ITEMS_PER_ORDER)] | UnsetType = UNSET


ImportBody = Annotated[list[_Order], msgspec.Meta(min_length=1, max_length=MAX_ORDERS_PER_IMPORT)]
"""The type of a body the fast path accepts; :func:`~.validation.validate_import` accepts it too."""

# Numbers with a fraction or an exponent only occur in metadata here (amounts are ints): read as
# bodies.read_body reads them (1.0 is 1), and an infinity is left to the standard library.
_decode = msgspec.json.Decoder(ImportBody, float_hook=finite_js_number).decode
_encode_lines = msgspec.json.Encoder(order="sorted").encode_lines


class AcceptedImport(NamedTuple):
    """What the endpoint stores of a valid body."""

    order_count: int
    """The number of orders."""
    canonical: bytes
    """One canonical JSON document per line (sorted keys, no spaces), as :func:`~.bodies.canonical_lines`."""
    source_ids: set[str]
    """The orders' ``source_id`` values that are not null."""


class BodyRefusedError(ValueError):
    """A body the endpoint refuses; ``details`` is the API's text of the error."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.details = details


def read_import(raw: bytes) -> AcceptedImport:
    """``raw``, the body of ``POST /v1/orders/import``, read and checked as the endpoint does.

    :raises BodyRefusedError: when the body is not JSON (``Request body is not valid JSON: ...``,
        the standard library's error) or breaks a rule of :func:`~.validation.validate_import`
        (its text: ``Property .items[0].quantity cannot be lower than 1``)
    :raises RecursionError: for JSON nested deeper than the standard library reads (as before)
    """
    try:
        orders = _decode(raw)
        # encode_lines ends every line with a newline; canonical_lines joins them with one.
        canonical = _encode_lines(orders)[:-1]
    except (msgspec.DecodeError, msgspec.EncodeError, NotExact, OverflowError, TypeError):
        return reference_read_import(raw)
    source_ids = {order.source_id for order in orders if isinstance(order.source_id, str)}
    return AcceptedImport(len(orders), canonical, source_ids)


def reference_read_import(raw: bytes) -> AcceptedImport:
    """:func:`read_import` without the fast path: the reference for what is accepted and how."""
    try:
        orders, encode = read_body(raw)
    except ValueError as exc:
        raise BodyRefusedError(f"Request body is not valid JSON: {exc}") from None
    if problem := validate_import(orders):
        raise BodyRefusedError(problem)
    source_ids = {order["source_id"] for order in orders if order.get("source_id") is not None}
    return AcceptedImport(len(orders), canonical_lines(orders, encode), source_ids)
