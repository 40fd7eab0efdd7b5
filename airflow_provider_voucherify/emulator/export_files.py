"""What ``POST /v1/exports`` asks for, and the CSV file an export writes.

A request is read as the spec writes it (``exports.openapi.json``): ``exported_object`` (``order``
or ``customer`` here; the API's other objects are refused as not emulated), ``parameters.fields``
(the spec's default fields when absent; ``metadata.<key>`` for one metadata value),
``parameters.filters`` (``created_at`` / ``updated_at`` with ``$after`` / ``$before``, each a
one-element array, joined by ``junction`` ``and`` or ``or``) and ``parameters.order``.

The file is written with the csv module (its default, minimal quoting), one column per requested
field in the requested order. Its header row is not documented for orders: the one documented
download example (vouchers) writes labels (``Voucher Type`` for ``voucher_type``), so the header is
either the keys or such labels (``--export-header``, or the ``export_header`` control), and a
client must map the columns by position when they are labels.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_voucherify.emulator.documents import ORDER_COLUMNS, render_orders
from airflow_provider_voucherify.emulator.ids import iso_ms

ORDER_FIELDS = (
    "id", "source_id", "created_at", "updated_at", "status", "amount", "discount_amount",
    "items_discount_amount", "total_discount_amount", "total_amount", "customer_id", "referrer_id",
    "metadata",
)  # fmt: skip
CUSTOMER_FIELDS = (
    "name", "id", "description", "email", "source_id", "created_at", "address_city", "address_state",
    "address_line_1", "address_line_2", "address_country", "address_postal_code",
    "redemptions_total_redeemed", "redemptions_total_failed", "redemptions_total_succeeded",
    "redemptions_total_rolled_back", "redemptions_total_rollback_failed",
    "redemptions_total_rollback_succeeded", "orders_total_amount", "orders_total_count",
    "orders_average_amount", "orders_last_order_amount", "orders_last_order_date", "loyalty_points",
    "loyalty_referred_customers", "updated_at", "phone", "birthday", "metadata", "birthdate",
)  # fmt: skip
FIELDS = {"order": ORDER_FIELDS, "customer": CUSTOMER_FIELDS}
DEFAULT_FIELDS = {"order": ("id", "source_id", "status"), "customer": ("name", "source_id")}
_SORTABLE = {
    "order": ("created_at", "updated_at", "status"),
    "customer": ("name", "id", "email", "source_id", "created_at", "updated_at"),
}
# Every object the spec's request body names; only orders and customers are emulated.
EXPORTED_OBJECTS = (
    "voucher", "redemption", "customer", "publication", "order", "points_expiration", "voucher_transactions",
)  # fmt: skip
_DATE_FILTERS = ("created_at", "updated_at")
_PAGE = 1000  # rows read and rendered at a time: the writer's memory stays flat
HEADER_FORMS = ("keys", "labels")
DateParser = Callable[[str], "int | None"]  # ISO 8601 text to epoch microseconds; None if unreadable


class ExportRefusedError(Exception):
    """A request the API answers with 400: ``key`` (``invalid_payload``, ...) and ``details``."""

    def __init__(self, key: str, details: str) -> None:
        super().__init__(details)
        self.key, self.details = key, details


@dataclass(frozen=True)
class DateCondition:
    field: str  # created_at or updated_at
    after: bool  # $after (strictly later) or $before (strictly earlier)
    moment: str  # ISO 8601 in the stored form (milliseconds, Z): compared as text


@dataclass(frozen=True)
class ExportRequest:
    exported_object: str
    fields: tuple[str, ...]
    conditions: tuple[DateCondition, ...]
    junction: str
    order: str | None
    parameters: dict[str, Any]  # as the export object echoes them


def _parse_moment(text: Any, where: str, parse: DateParser) -> str:
    micros = parse(text) if isinstance(text, str) else None
    if micros is None:
        raise ExportRefusedError(
            "invalid_payload", f"Property {where} cannot be recognized as a ISO-8601 compliant date"
        )
    return iso_ms(micros // 1000)


def _conditions(filters: dict[str, Any], parse: DateParser) -> tuple[DateCondition, ...]:
    found = []
    for name, spec in filters.items():
        if name == "junction":
            continue
        if name not in _DATE_FILTERS:
            raise ExportRefusedError(
                "invalid_payload",
                f"Filter .parameters.filters.{name} is valid in the API but not emulated"
                " (only created_at and updated_at with $after and $before)",
            )
        conditions = spec.get("conditions") if isinstance(spec, dict) else None
        if not isinstance(conditions, dict) or not conditions:
            raise ExportRefusedError(
                "invalid_payload", f"Property .parameters.filters.{name}.conditions should be object"
            )
        for operator, values in conditions.items():
            where = f".parameters.filters.{name}.conditions.{operator}"
            if operator not in ("$after", "$before"):
                raise ExportRefusedError("invalid_payload", f"Condition {where} is not emulated")
            if not isinstance(values, list) or len(values) != 1:
                raise ExportRefusedError(
                    "invalid_payload", f"Property {where} should be an array of one date"
                )
            found.append(DateCondition(name, operator == "$after", _parse_moment(values[0], where, parse)))
    return tuple(found)


def read_request(body: Any, parse_date: DateParser) -> ExportRequest:
    """The export a ``POST /v1/exports`` body asks for.

    :param parse_date: ISO 8601 text to epoch microseconds, or ``None`` when unreadable
    :raises ExportRefusedError: for what the API refuses, and for what the emulator does not emulate
    """
    if not isinstance(body, dict):
        raise ExportRefusedError("invalid_payload", "Request body should be object")
    kind = body.get("exported_object")
    if kind not in EXPORTED_OBJECTS:
        allowed = ", ".join(EXPORTED_OBJECTS)
        raise ExportRefusedError(
            "invalid_payload",
            f"Property .exported_object should be equal to one of the allowed values [ {allowed} ]",
        )
    if kind not in FIELDS:
        raise ExportRefusedError(
            "invalid_payload", f"Exports of {kind} are not emulated (order and customer are)"
        )
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ExportRefusedError("invalid_payload", "Property .parameters should be object")
    fields = parameters.get("fields") or list(DEFAULT_FIELDS[kind])
    if not isinstance(fields, list) or not all(isinstance(field, str) for field in fields):
        raise ExportRefusedError(
            "invalid_payload", "Property .parameters.fields should be an array of strings"
        )
    allowed_fields = FIELDS[kind]
    if any(field not in allowed_fields and not re.fullmatch(r"metadata\..+", field) for field in fields):
        raise ExportRefusedError(
            "invalid_export_fields", f"Unsupported field used. Allowed fields: {', '.join(allowed_fields)}"
        )
    filters = parameters.get("filters") or {}
    if not isinstance(filters, dict):
        raise ExportRefusedError("invalid_payload", "Property .parameters.filters should be object")
    junction = filters.get("junction", "and")
    if junction not in ("and", "or"):
        raise ExportRefusedError(
            "invalid_payload", "Property .parameters.filters.junction should be equal to one of [ and, or ]"
        )
    order = parameters.get("order")
    sortable = _SORTABLE[kind]
    if order is not None and order.lstrip("-") not in sortable:
        allowed = ", ".join(f"{sign}{name}" for name in sortable for sign in ("-", ""))
        raise ExportRefusedError(
            "invalid_payload", f"Property .parameters.order should be equal to one of [ {allowed} ]"
        )
    echoed: dict[str, Any] = {"fields": list(fields), "filters": {**filters, "junction": junction}}
    if order is not None:
        echoed = {"order": order, **echoed}
    return ExportRequest(kind, tuple(fields), _conditions(filters, parse_date), junction, order, echoed)


def label(field: str) -> str:
    """The label form of a field's header (``Source ID``), after the documented voucher example."""
    return " ".join("ID" if word == "id" else word.capitalize() for word in re.split(r"[_.]", field))


def cell(value: Any) -> str:
    """One CSV value: empty for none, ``true``/``false``, numbers as JSON writes them, objects as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _order_value(doc: dict[str, Any], raw: dict[str, Any], field: str) -> Any:
    if field.startswith("metadata."):
        return (doc.get("metadata") or {}).get(field.removeprefix("metadata."))
    if field in doc:
        return doc[field]
    if field in raw:
        return raw[field]
    discounts = [raw.get(key) for key in ("discount_amount", "items_discount_amount")]
    if field == "total_discount_amount" and any(value is not None for value in discounts):
        return sum(value or 0 for value in discounts)
    if field == "total_amount" and doc.get("amount") is not None:
        return doc["amount"] - sum(value or 0 for value in discounts)
    return None


def _customer_value(doc: dict[str, Any], field: str) -> Any:
    if field.startswith("metadata."):
        return (doc.get("metadata") or {}).get(field.removeprefix("metadata."))
    if field.startswith("address_"):
        return (doc.get("address") or {}).get(field.removeprefix("address_"))
    return doc.get(field)


def _query(request: ExportRequest, project: str) -> tuple[str, list[Any]]:
    customers = request.exported_object == "customer"
    table, columns = ("customers", "id, data") if customers else ("orders", ORDER_COLUMNS)
    clauses, params = [], [project]
    for condition in request.conditions:
        column = f"json_extract(data, '$.{condition.field}')" if customers else condition.field
        clauses.append(f"{column} {'>' if condition.after else '<'} ?")
        params.append(condition.moment)
    where = f" AND ({f' {request.junction.upper()} '.join(clauses)})" if clauses else ""
    sort = "rowid"
    if request.order:
        name = request.order.lstrip("-")
        if name == "status":
            key = "coalesce(json_extract(data, '$.status'), 'CREATED')"
        elif customers and name not in ("id", "source_id"):
            key = f"json_extract(data, '$.{name}')"
        else:
            key = name
        direction = "DESC" if request.order.startswith("-") else "ASC"
        sort = f"{key} {direction}, rowid {direction}"
    return f"SELECT {columns} FROM {table} WHERE project = ?{where} ORDER BY {sort}", params


def write_export(
    conn: sqlite3.Connection, project: str, request: ExportRequest, path: Path, header: str
) -> int:
    """Write the export's CSV to ``path`` (through a temporary file); returns the number of rows.

    Reads one snapshot (one read transaction), a page at a time.
    """
    query, params = _query(request, project)
    partial = path.with_suffix(".partial")
    rows = 0
    with partial.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(request.fields if header == "keys" else [label(field) for field in request.fields])
        conn.execute("BEGIN")
        try:
            cursor = conn.execute(query, params)
            while page := cursor.fetchmany(_PAGE):
                if request.exported_object == "customer":
                    for _, data in page:
                        doc = json.loads(data)
                        writer.writerow([cell(_customer_value(doc, field)) for field in request.fields])
                else:
                    for doc, row in zip(render_orders(conn, project, page), page, strict=True):
                        raw = json.loads(row[-1])
                        writer.writerow([cell(_order_value(doc, raw, field)) for field in request.fields])
                rows += len(page)
        finally:
            conn.execute("COMMIT")
    partial.replace(path)
    return rows
