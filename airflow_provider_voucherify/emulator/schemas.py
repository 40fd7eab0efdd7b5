"""Metadata schemas: what ``GET /v1/metadata-schemas[/{resource}]`` serves and what the import enforces.

Written independently of the client's ``metadata_schema`` module, so that a test can check that the
two agree. A schema is set per resource (``order``, ``order_item``, ``customer``, ``product``, ...)
for every project of the emulator, from ``--metadata-schemas FILE`` or ``PUT /_emulator/metadata-schemas``.

Enforcement, per order of an import (the first broken rule is the order's ``failed`` reason):

- the order's ``metadata`` against the ``order`` schema (always: every import writes the order);
- each item's ``metadata`` against ``order_item``, an item's inline ``product.metadata`` against
  ``product``, and ``customer.metadata`` / ``referrer.metadata`` against ``customer``, when the
  object carries ``metadata`` (linking a customer by ``source_id`` alone writes no metadata);
- a defined key (not ``deleted``) must have the defined type (``array``: a list of it) and meet
  ``eq``, ``ne``, ``lt``, ``lte``, ``gt``, ``gte``, and, for strings, the length constraints
  (``min_length`` or ``minLength``, and so on); ``null`` counts as absent;
- a key defined with ``optional: false`` must be present;
- an undefined key is refused when ``allow_defined_only`` is true, and stored as a string otherwise.
"""

from __future__ import annotations

import json
import operator
import re
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from airflow_provider_voucherify.emulator.ids import alnum_id, iso_ms, now_ms

Doc = dict[str, Any]

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
Holds = Callable[[Any, Any], bool]
_LENGTHS: tuple[tuple[str, str, str, Holds], ...] = (
    ("min_length", "minLength", "NOT be shorter than", operator.ge),
    ("max_length", "maxLength", "NOT be longer than", operator.le),
    ("exact_length", "exactLength", "be exactly", operator.eq),
)
_BOUNDS: tuple[tuple[str, str, Holds], ...] = (
    ("lt", "less than", operator.lt),
    ("lte", "less than or equal to", operator.le),
    ("gt", "greater than", operator.gt),
    ("gte", "greater than or equal to", operator.ge),
)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_date(value: Any) -> bool:
    match = _DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return False
    try:
        date(*map(int, match.groups()))
    except ValueError:
        return False
    return True


def _is_datetime(value: Any) -> bool:
    match = _DATETIME.fullmatch(value) if isinstance(value, str) else None
    return match is not None and _is_date(match.group(1))


_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "image_url": lambda v: isinstance(v, str),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "date": _is_date,
    "datetime": _is_datetime,
    "object": lambda v: isinstance(v, dict),
    "geopoint": lambda v: isinstance(v, dict),
}
_FORMATS = {"date": 'match format "date"', "datetime": 'match format "date-time"'}


def _element_problem(value: Any, spec: Doc) -> str | None:
    """Why one value (an array's element, or the value itself) breaks ``spec``; ``None`` if it fits."""
    kind = spec.get("type")
    fits = _TYPES.get(str(kind))
    if fits is not None and not fits(value):
        return _FORMATS.get(str(kind)) or f"be {kind}"
    if "eq" in spec and spec["eq"] and value not in spec["eq"]:
        return "be equal to one of the allowed values: " + ", ".join(map(str, spec["eq"]))
    if "ne" in spec and spec["ne"] and value in spec["ne"]:
        return "NOT be equal to any of: " + ", ".join(map(str, spec["ne"]))
    if kind == "number":
        for key, words, holds in _BOUNDS:
            if spec.get(key) is not None and not holds(value, spec[key]):
                return f"be {words} {spec[key]}"
    if kind in ("string", "image_url"):
        for snake, camel, words, holds in _LENGTHS:
            limit = spec.get(snake, spec.get(camel))
            if limit is not None and not holds(len(value), limit):
                return f"{words} {limit} characters"
    return None


def value_problem(value: Any, spec: Doc) -> str | None:
    """Why a defined key's value breaks its definition, as the end of "Property ... should ..."."""
    if spec.get("array"):
        if not isinstance(value, list):
            return f"be array of {spec.get('type')}"
        for element in value:
            if problem := _element_problem(element, spec):
                return problem
        return None
    if isinstance(value, list):
        return f"be {spec.get('type')}, not an array"
    return _element_problem(value, spec)


def metadata_refusal(metadata: Any, schema: Doc, resource: str, path: str) -> str | None:
    """The first rule ``metadata`` (at ``path``, e.g. ``.items[0].metadata``) breaks; ``None`` if none."""
    given = metadata if isinstance(metadata, dict) else {}
    defined = {
        key: spec
        for key, spec in (schema.get("properties") or {}).items()
        if isinstance(spec, dict) and not spec.get("deleted")
    }
    for key, value in given.items():
        spec = defined.get(key)
        if spec is None:
            if schema.get("allow_defined_only"):
                return (
                    f"Property {path}.{key} is not defined in the {resource} metadata schema,"
                    " which allows only defined metadata"
                )
            continue
        if value is not None and (problem := value_problem(value, spec)):
            return f"Property {path}.{key} should {problem}"
    for key, spec in defined.items():
        if spec.get("optional") is False and given.get(key) is None:
            return f"Property {path}.{key} is required by the {resource} metadata schema"
    return None


def _targets(order: Doc) -> list[tuple[str, str, Doc]]:
    """``(resource, path, holder)`` of each object of an order whose metadata a schema governs."""
    found = [("order", ".metadata", order)]
    for party in ("customer", "referrer"):
        holder = order.get(party)
        if isinstance(holder, dict) and "metadata" in holder:
            found.append(("customer", f".{party}.metadata", holder))
    for index, item in enumerate(order.get("items") or ()):
        if not isinstance(item, dict):
            continue
        if "metadata" in item:
            found.append(("order_item", f".items[{index}].metadata", item))
        product = item.get("product")
        if isinstance(product, dict) and "metadata" in product:
            found.append(("product", f".items[{index}].product.metadata", product))
    return found


def _as_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


class SchemaBook:
    """The metadata schemas of the emulator, safe to read from the import workers' threads."""

    def __init__(self, initial: dict[str, Doc] | None = None) -> None:
        self._initial = {
            resource: self._document(resource, body) for resource, body in (initial or {}).items()
        }
        self._lock = threading.Lock()
        self._schemas = dict(self._initial)

    @staticmethod
    def _document(resource: str, body: Doc) -> Doc:
        """The API's ``metadata_schema`` object for a definition (``properties``, ``allow_defined_only``)."""
        stamp = iso_ms(now_ms())
        return {
            "id": body.get("id") or alnum_id("ms"),
            "related_object": resource,
            "properties": dict(body.get("properties") or {}),
            "allow_defined_only": bool(body.get("allow_defined_only", False)),
            "created_at": body.get("created_at") or stamp,
            "updated_at": body.get("updated_at"),
            "object": "metadata_schema",
        }

    def get(self, resource: str) -> Doc | None:
        with self._lock:
            return self._schemas.get(resource)

    def all(self) -> list[Doc]:
        with self._lock:
            return list(self._schemas.values())

    def replace(self, schemas: dict[str, Doc | None]) -> None:
        """Set these resources' schemas; a resource mapped to ``None`` has its schema removed."""
        with self._lock:
            for resource, body in schemas.items():
                if body is None:
                    self._schemas.pop(resource, None)
                else:
                    self._schemas[resource] = self._document(resource, body)

    def reset(self) -> None:
        """Back to the schemas the emulator started with."""
        with self._lock:
            self._schemas = dict(self._initial)

    def snapshot(self) -> dict[str, Doc]:
        with self._lock:
            return dict(self._schemas)


def refusal(order: Doc, schemas: dict[str, Doc]) -> str | None:
    """The reason the import refuses ``order`` under ``schemas`` (a :meth:`SchemaBook.snapshot`)."""
    for resource, path, holder in _targets(order):
        schema = schemas.get(resource)
        if schema is not None and (
            reason := metadata_refusal(holder.get("metadata"), schema, resource, path)
        ):
            return reason
    return None


def stringify_undefined(order: Doc, schemas: dict[str, Doc]) -> bool:
    """Store undefined keys as strings, as the API does under "allow any metadata"; True if changed."""
    changed = False
    for resource, _, holder in _targets(order):
        schema = schemas.get(resource)
        metadata = holder.get("metadata")
        if schema is None or not isinstance(metadata, dict):
            continue
        defined = schema.get("properties") or {}
        for key, value in metadata.items():
            if key not in defined and value is not None and not isinstance(value, str):
                metadata[key] = _as_string(value)
                changed = True
    return changed


def parse_schemas(raw: Any, origin: str = "metadata schemas") -> dict[str, Doc | None]:
    """Schemas by resource from ``{resource: {"properties": ..., "allow_defined_only": ...}}``, a
    list of ``metadata_schema`` objects, or the list endpoint's body (``{"schemas": [...]}``).

    :raises ValueError: on any other shape
    """
    if isinstance(raw, dict) and isinstance(raw.get("schemas"), list):
        raw = raw["schemas"]
    if isinstance(raw, list):
        if not all(isinstance(entry, dict) and isinstance(entry.get("related_object"), str) for entry in raw):
            raise ValueError(f"{origin}: each schema in a list needs a related_object")
        raw = {entry["related_object"]: entry for entry in raw}
    if not isinstance(raw, dict):
        raise ValueError(f"{origin}: expected an object keyed by resource or a list of schemas")
    for resource, body in raw.items():
        if body is not None and not (isinstance(body, dict) and isinstance(body.get("properties", {}), dict)):
            raise ValueError(f"{origin}: the {resource} schema needs properties as an object")
    return raw


def load_schemas(path: Path) -> dict[str, Doc]:
    """Read ``--metadata-schemas FILE`` (JSON, any shape :func:`parse_schemas` takes)."""
    parsed = parse_schemas(json.loads(path.read_text(encoding="utf-8")), str(path))
    return {resource: body for resource, body in parsed.items() if body is not None}
