"""The import endpoint's payload rules, written independently of the client's models.

Each check returns the API's ``details`` text (``Property .items[0].quantity cannot be lower than 1``),
with the property path relative to the order, as the real API reports it, or ``None`` when valid.

What an amount is comes from one place shared with the client (``formats.as_integer``): the API runs
on JavaScript, where ``1999.0`` is the number ``1999``, so integral numbers are integers and
fractions are not. :func:`parse_body` reads a body the way JavaScript would (integral floats become
ints), so the stored order holds ``1999``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from airflow_provider_voucherify.emulator.config import MAX_ITEMS_PER_ORDER, MAX_ORDERS_PER_IMPORT
from airflow_provider_voucherify.formats import AmountError, as_integer

ORDER_STATUSES = ("CREATED", "PAID", "CANCELED", "FULFILLED")
RELATED_OBJECTS = ("product", "sku")
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
"""What a customer's ``birthdate`` / ``birthday`` must match (``re.match``; ``$`` as Python reads it)."""
_DATE = re.compile(DATE_PATTERN)

_ORDER_AMOUNTS = ("amount", "initial_amount", "discount_amount")
_ITEM_AMOUNTS = ("amount", "price", "discount_amount", "initial_amount")
_ITEM_QUANTITIES = (("quantity", 1), ("initial_quantity", 1), ("discount_quantity", 0))
_ITEM_STRINGS = ("sku_id", "product_id", "source_id")
_CUSTOMER_STRINGS = ("id", "source_id", "name", "description", "email", "phone")
_CATALOG_STRINGS = ("id", "source_id", "name", "sku")


def js_number(text: str) -> float | int:
    """A JSON number with a fraction or an exponent, as JavaScript holds it: integral ones are ints."""
    number = float(text)
    return int(number) if number.is_integer() and abs(number) <= 2**53 else number


def parse_body(raw: bytes) -> Any:
    """A JSON body as the API's JavaScript reads it: ``1999.0`` is the integer ``1999``.

    :raises ValueError: when the body is not JSON
    """
    return json.loads(raw, parse_float=js_number)


# The checks below return the reason only (``should be integer``); the caller names the property.
# Paths are built only for the rule broken: the checks run for every value of every order.


def _integer(value: Any, minimum: int) -> str | None:
    try:
        number = as_integer(value)
    except AmountError:
        return "should be integer"
    if number < minimum:
        return f"cannot be lower than {minimum}"
    return None


def _string(value: Any, nullable: bool = False) -> str | None:
    if isinstance(value, str) or (nullable and value is None):
        return None
    return "should be string"


def _object(value: Any, nullable: bool = False) -> str | None:
    if isinstance(value, dict) or (nullable and value is None):
        return None
    return "should be object"


def _one_of(value: Any, allowed: tuple[str, ...]) -> str | None:
    if value in allowed:
        return None
    return f"should be equal to one of the allowed values: {', '.join(allowed)}"


def _customer(customer: Any) -> str | None:
    """The broken rule of a customer or referrer, relative to it (``.email should be string``)."""
    if error := _object(customer):
        return f" {error}"
    for key in _CUSTOMER_STRINGS:
        if key in customer and (error := _string(customer[key])):
            return f".{key} {error}"
    for key in ("birthdate", "birthday"):
        if key in customer and (not isinstance(customer[key], str) or not _DATE.match(customer[key])):
            return f'.{key} should match format "date"'
    if "address" in customer and (error := _object(customer["address"], True)):
        return f".address {error}"
    if "metadata" in customer and (error := _object(customer["metadata"])):
        return f".metadata {error}"
    return None


def _catalog_entry(entry: Any) -> str | None:
    """The broken rule of an item's inline ``product`` or ``sku`` object, relative to it."""
    if error := _object(entry):
        return f" {error}"
    for key in _CATALOG_STRINGS:
        if key in entry and (error := _string(entry[key])):
            return f".{key} {error}"
    if entry.get("price") is not None and (error := _integer(entry["price"], 0)):
        return f".price {error}"
    if "override" in entry and not isinstance(entry["override"], bool):
        return ".override should be boolean"
    if "metadata" in entry and (error := _object(entry["metadata"])):
        return f".metadata {error}"
    return None


def _item(item: Any, index: int) -> str | None:
    if error := _object(item):
        return f"Property .items[{index}] {error}"
    for key in _ITEM_AMOUNTS:
        if key in item and (error := _integer(item[key], 0)):
            return f"Property .items[{index}].{key} {error}"
    for key, minimum in _ITEM_QUANTITIES:
        if key in item and (error := _integer(item[key], minimum)):
            return f"Property .items[{index}].{key} {error}"
    for key in _ITEM_STRINGS:
        if key in item and (error := _string(item[key])):
            return f"Property .items[{index}].{key} {error}"
    if "related_object" in item and (error := _one_of(item["related_object"], RELATED_OBJECTS)):
        return f"Property .items[{index}].related_object {error}"
    # A maintainer's answer: an item's source_id means nothing without related_object.
    if item.get("source_id") is not None and item.get("related_object") is None:
        path = f".items[{index}]"
        return f"Property {path}.related_object is required when {path}.source_id is given"
    for key in ("product", "sku"):
        if key in item and (error := _catalog_entry(item[key])):
            return f"Property .items[{index}].{key}{error}"
    if "metadata" in item and (error := _object(item["metadata"])):
        return f"Property .items[{index}].metadata {error}"
    return None


def validate_order(order: Any) -> str | None:
    """The first rule one order breaks, as the API's ``details`` text; ``None`` when it is valid."""
    if not isinstance(order, dict):
        return "Property . should be object"
    for key in ("source_id", "referrer_id"):
        if key in order and (error := _string(order[key], nullable=True)):
            return f"Property .{key} {error}"
    # Not in the import's schema; rather than guess what the API does with it, refuse it.
    if order.get("customer_id") is not None:
        return "Property .customer_id is not allowed: the customer goes in .customer (id or source_id)"
    if "id" in order and (error := _string(order["id"])):
        return f"Property .id {error}"
    if "status" in order and (error := _one_of(order["status"], ORDER_STATUSES)):
        return f"Property .status {error}"
    for key in _ORDER_AMOUNTS:
        if key in order and (error := _integer(order[key], 0)):
            return f"Property .{key} {error}"
    if "metadata" in order and (error := _object(order["metadata"])):
        return f"Property .metadata {error}"
    for key in ("customer", "referrer"):
        if key in order and (error := _customer(order[key])):
            return f"Property .{key}{error}"
    if "items" in order:
        items = order["items"]
        if not isinstance(items, list):
            return "Property .items should be array"
        if len(items) > MAX_ITEMS_PER_ORDER:
            return f"Property .items should NOT have more than {MAX_ITEMS_PER_ORDER} items"
        for index, item in enumerate(items):
            if error := _item(item, index):
                return error
    return None


def validate_import(orders: Any) -> str | None:
    """The first rule an import body breaks (shape, size, then each order in turn)."""
    if not isinstance(orders, list):
        return "Request body should be array"
    if not orders:
        return "Request body should NOT have fewer than 1 items"
    if len(orders) > MAX_ORDERS_PER_IMPORT:
        return f"Request body should NOT have more than {MAX_ORDERS_PER_IMPORT} items"
    for order in orders:
        if error := validate_order(order):
            return error
    return None
