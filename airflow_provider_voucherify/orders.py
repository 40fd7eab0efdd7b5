"""The orders sent to ``POST /v1/orders/import``: their pydantic models and the parsing into them.

``Order``, ``OrderItem``, ``Customer`` and the rest mirror the import's rules and refuse unknown
fields, so a typo in a migration fails loudly instead of vanishing. :func:`parse_order` turns one
record (a dict, one JSON text or an ``Order``) into an ``Order`` or an ``InvalidOrderError`` naming
the line, the ``source_id`` and each field path. The import's size limits live here too.

Personal data (names, emails, phones, addresses) is kept out of ``repr`` and out of every
error message built here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from airflow_provider_voucherify.exceptions import InvalidOrderError
from airflow_provider_voucherify.formats import (
    Count,
    IsoDate,
    IsoDateTime,
    Money,
    Quantity,
    api_datetime,
)
from airflow_provider_voucherify.paths import addressable

# What one POST /v1/orders/import accepts: orders per request, bytes of the JSON body, items per
# order; and how deep metadata may nest before it is refused here.
MAX_ORDERS_PER_IMPORT = 2000
MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_ITEMS_PER_ORDER = 500
MAX_METADATA_DEPTH = 16
DEFAULT_CREATED_AT_METADATA_KEY = "original_created_at"

# Money, Quantity and Count (see formats.py) are the one definition of an amount, shared with the
# emulator: integral numbers of any type are integers, fractions and booleans are refused.
Id = Annotated[str, Field(min_length=1, max_length=255)]
# A source_id read back by path (GET /v1/orders/{source_id}, /v1/customers/...): "." and ".." never are.
PathId = Annotated[Id, AfterValidator(addressable)]
Metadata = dict[str, Any]


class OrderStatus(str, Enum):
    """Status of an order, as the API spells it."""

    CREATED = "CREATED"
    PAID = "PAID"
    CANCELED = "CANCELED"
    FULFILLED = "FULFILLED"


_FLAT = frozenset({str, int, bool, type(None)})


def check_metadata(value: Metadata | None) -> Metadata | None:
    """Refuse metadata the API cannot store as JSON: NaN, infinities, non-JSON types, deep nesting."""
    if value is None:
        return None
    # The common case, flat metadata of strings, integers and booleans, needs no walk: it runs
    # for every order of an import.
    if all(type(key) is str for key in value) and all(type(child) in _FLAT for child in value.values()):
        return value
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            raise ValueError(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise ValueError("metadata keys must be strings")
                stack.append((child, depth + 1))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise ValueError("metadata holds NaN or an infinite number, which JSON cannot carry")
        elif node is not None and not isinstance(node, (str, int, bool)):
            raise ValueError(f"metadata holds a {type(node).__name__}, which is not JSON")
    return value


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=100_000)

    @field_validator("metadata", check_fields=False)
    @classmethod
    def _json_metadata(cls, value: Metadata | None) -> Metadata | None:
        return check_metadata(value)


class Address(_Input):
    city: str | None = None
    state: str | None = None
    line_1: str | None = None
    line_2: str | None = None
    country: str | None = None
    postal_code: str | None = None


class Customer(_Input):
    """A customer or a referrer, identified by ``id`` (Voucherify's) or ``source_id`` (yours)."""

    id: Id | None = None
    source_id: PathId | None = None
    name: str | None = Field(default=None, repr=False)
    description: str | None = None
    email: str | None = Field(default=None, repr=False)
    phone: str | None = Field(default=None, repr=False)
    birthday: IsoDate | None = Field(default=None, repr=False)
    birthdate: IsoDate | None = Field(default=None, repr=False)
    address: Address | None = Field(default=None, repr=False)
    metadata: Metadata | None = Field(default=None, repr=False)


class ItemProduct(_Input):
    """The product of an order item; with ``override=True`` the import updates it."""

    id: Id | None = None
    source_id: Id | None = None
    override: bool | None = None
    name: str | None = None
    price: Money | None = None
    metadata: Metadata | None = None


class ItemSku(_Input):
    """The SKU of an order item; with ``override=True`` the import updates it."""

    id: Id | None = None
    source_id: Id | None = None
    override: bool | None = None
    sku: str | None = None
    price: Money | None = None
    metadata: Metadata | None = None


class OrderItem(_Input):
    """One line of an order. Amounts and prices are integers in the smallest currency unit.

    The product or SKU is named by ``product_id`` / ``sku_id`` (Voucherify's ids), or by your
    ``source_id`` together with ``related_object`` (``"product"`` or ``"sku"``): the API needs both.
    """

    sku_id: Id | None = None
    product_id: Id | None = None
    source_id: Id | None = None
    # Required with source_id: checked by parse_order (items_without_kind), once per order
    # rather than by a validator per item, on the hot path of an import.
    related_object: Literal["product", "sku"] | None = None
    quantity: Quantity | None = None
    discount_quantity: Count | None = None
    initial_quantity: Quantity | None = None
    amount: Money | None = None
    discount_amount: Money | None = None
    initial_amount: Money | None = None
    price: Money | None = None
    product: ItemProduct | None = None
    sku: ItemSku | None = None
    metadata: Metadata | None = None


class Order(_Input):
    """One order of ``POST /v1/orders/import``.

    ``created_at`` is accepted on input but never sent: the import ignores it, so
    :meth:`move_created_at` puts it into ``metadata`` where the API asks historical dates to go.
    """

    id: Id | None = None
    source_id: PathId | None = None
    status: OrderStatus | None = None
    amount: Money | None = None
    initial_amount: Money | None = None
    discount_amount: Money | None = None
    items: Annotated[list[OrderItem], Field(max_length=MAX_ITEMS_PER_ORDER)] | None = None
    metadata: Metadata | None = None
    customer: Customer | None = None
    # Not in the import's schema: kept as a field only to refuse it with the fix (see below).
    customer_id: Id | None = Field(default=None, exclude=True)
    referrer: Customer | None = None
    referrer_id: Id | None = None
    created_at: IsoDateTime | None = Field(default=None, exclude=True)

    @field_validator("customer_id")
    @classmethod
    def _no_customer_id(cls, value: str | None) -> None:
        if value is not None:
            raise PydanticCustomError(
                "customer_id_not_imported",
                'not part of an import: link the customer as "customer": {"id": ...} '
                '(Voucherify\'s id) or {"source_id": ...} (yours)',
            )
        return None

    def move_created_at(self, metadata_key: str | None = DEFAULT_CREATED_AT_METADATA_KEY) -> Order:
        """This order with ``created_at`` moved into ``metadata[metadata_key]``.

        The date is written the way the API documents dates: UTC with milliseconds and ``Z``
        (``2021-03-04T05:06:07.123Z``).

        Returns a copy when there is a date to move (a caller's ``Order`` is never changed), the
        order itself otherwise; ``metadata_key=None`` drops the date.
        """
        if self.created_at is None:
            return self
        metadata = self.metadata
        if metadata_key is not None:
            metadata = {**(metadata or {}), metadata_key: api_datetime(self.created_at)}
        return self.model_copy(update={"metadata": metadata, "created_at": None})

    def to_json(self) -> bytes:
        """The order as the API wants it: JSON without null fields."""
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)


def validation_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """``(field path, reason)`` pairs of a pydantic error, without the input values (may be personal)."""
    pairs = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
        reason = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        pairs.append((path, reason))
    return pairs


def parse_order(
    record: Order | Mapping[str, Any] | str | bytes,
    *,
    line: int | None = None,
    require_source_id: bool = False,
) -> Order:
    """Validate one record (an ``Order``, a dict, or one JSON text) into an ``Order``.

    :raises InvalidOrderError: naming the line, the ``source_id`` when readable, and each field path
    """
    try:
        if isinstance(record, Order):
            order = record
        elif isinstance(record, (str, bytes)):
            try:
                # Strict first: plain integer amounts are then checked without calling Python
                # (the common case, and the hot path of an import); anything else is read again.
                order = Order.model_validate_json(record, strict=True)
            except ValidationError:
                order = Order.model_validate_json(record)
        else:
            order = Order.model_validate(record)
    except ValidationError as exc:
        # `from None`: pydantic's own message quotes the input values, which may be personal
        # data; the paths and reasons are all carried over into InvalidOrderError.
        raise InvalidOrderError(
            validation_errors(exc), line=line, source_id=_readable_source_id(record)
        ) from None
    if order.items and (missing := items_without_kind(order)):
        raise InvalidOrderError(missing, line=line, source_id=order.source_id)
    if require_source_id and order.source_id is None:
        raise InvalidOrderError(
            [(".source_id", "required, so that a repeated import updates instead of duplicating")],
            line=line,
        )
    return order


RELATED_OBJECT_MISSING = 'required with source_id: "product" or "sku", saying what the source_id names'


def items_without_kind(order: Order) -> list[tuple[str, str]]:
    """``(path, reason)`` for each item with a ``source_id`` but no ``related_object``.

    The API needs both to find your product or SKU (a maintainer's answer; every official import
    example carries both).
    """
    return [
        (f".items[{index}].related_object", RELATED_OBJECT_MISSING)
        for index, item in enumerate(order.items or ())
        if item.source_id is not None and item.related_object is None
    ]


def _readable_source_id(record: Any) -> str | None:
    if isinstance(record, (str, bytes)):
        try:
            record = json.loads(record)
        except ValueError:
            return None
    if isinstance(record, Mapping):
        value = record.get("source_id")
        return value if isinstance(value, str) else None
    return None


def parse_orders(records: Iterable[Order | Mapping[str, Any]]) -> list[Order]:
    """Validate a small in-memory collection; positions in errors start at 1."""
    return [parse_order(record, line=position) for position, record in enumerate(records, start=1)]


def import_body(orders: Iterable[Order]) -> bytes:
    """The JSON array of ``POST /v1/orders/import`` from validated orders."""
    return b"[" + b",".join(order.to_json() for order in orders) + b"]"


def refuse_repeated_source_ids(orders: Iterable[Order]) -> None:
    """Two orders with the same ``source_id`` are never sent in one import (the API leaves it undefined).

    :raises InvalidOrderError: naming the later order's 1-based position and the earlier one
    """
    first_seen: dict[str, int] = {}
    for position, order in enumerate(orders, start=1):
        earlier = first_seen.setdefault(order.source_id, position) if order.source_id else position
        if earlier != position:
            reason = f"the same source_id as order {earlier}: never sent together in one import"
            raise InvalidOrderError([(".source_id", reason)], line=position, source_id=order.source_id)
