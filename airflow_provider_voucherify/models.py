"""Pydantic models of what the provider sends to and reads from Voucherify: the public import path.

The models live in two modules, one idea each, and every name is re-exported here, so
``from airflow_provider_voucherify.models import ...`` keeps working:

- :mod:`airflow_provider_voucherify.orders`: what is sent to ``POST /v1/orders/import``
  (``Order``, ``OrderItem``, ``Customer``, ...; strict, unknown fields refused), the import's
  limits, and :func:`parse_order` with its error reporting.
- :mod:`airflow_provider_voucherify.async_actions`: what ``GET /v1/async-actions[/{id}]`` returns
  (``AsyncAction``, ``ActionStatus``, ``ImportResult``, ``FailedOrder``; tolerant, unknown fields
  ignored) and :func:`parse_action_list`.

Personal data (names, emails, phones, addresses) is kept out of ``repr`` and out of every
error message built there.
"""

from __future__ import annotations

from airflow_provider_voucherify.async_actions import (
    ActionList,
    ActionStatus,
    AsyncAction,
    FailedOrder,
    ImportResult,
    parse_action_list,
)
from airflow_provider_voucherify.exceptions import InvalidOrderError

# Amount and date types the models are written in; importable from here since the models lived here.
from airflow_provider_voucherify.formats import (
    MAX_SAFE_INTEGER,
    Count,
    IsoDate,
    IsoDateTime,
    Money,
    Quantity,
    api_datetime,
)
from airflow_provider_voucherify.orders import (
    DEFAULT_CREATED_AT_METADATA_KEY,
    MAX_IMPORT_BYTES,
    MAX_ITEMS_PER_ORDER,
    MAX_METADATA_DEPTH,
    MAX_ORDERS_PER_IMPORT,
    RELATED_OBJECT_MISSING,
    Address,
    Customer,
    Id,
    ItemProduct,
    ItemSku,
    Metadata,
    Order,
    OrderItem,
    OrderStatus,
    check_metadata,
    items_without_kind,
    parse_order,
    parse_orders,
    validation_errors,
)

__all__ = [
    "DEFAULT_CREATED_AT_METADATA_KEY",
    "MAX_IMPORT_BYTES",
    "MAX_ITEMS_PER_ORDER",
    "MAX_METADATA_DEPTH",
    "MAX_ORDERS_PER_IMPORT",
    "MAX_SAFE_INTEGER",
    "RELATED_OBJECT_MISSING",
    "ActionList",
    "ActionStatus",
    "Address",
    "AsyncAction",
    "Count",
    "Customer",
    "FailedOrder",
    "Id",
    "ImportResult",
    "InvalidOrderError",
    "IsoDate",
    "IsoDateTime",
    "ItemProduct",
    "ItemSku",
    "Metadata",
    "Money",
    "Order",
    "OrderItem",
    "OrderStatus",
    "Quantity",
    "api_datetime",
    "check_metadata",
    "items_without_kind",
    "parse_action_list",
    "parse_order",
    "parse_orders",
    "validation_errors",
]
