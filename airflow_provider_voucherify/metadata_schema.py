"""Voucherify metadata schemas, and whether an order's metadata meets them: pure, no I/O.

A project's metadata schema for a resource (``GET /v1/metadata-schemas/{resource}``) lists its
defined keys (``properties``: ``type``, ``array``, ``optional``, and the constraints ``eq``, ``ne``,
``lt``, ``lte``, ``gt``, ``gte``, ``min_length``, ``max_length``, ``exact_length``) and whether only
those keys are allowed (``allow_defined_only``). Voucherify checks each imported order against them
and reports an order that breaks one as failed, while the import itself still ends ``DONE``.

What is checked, per order:

- ``metadata`` against the ``order`` schema, always (a missing required key counts);
- ``items[i].metadata`` against ``order_item``, ``items[i].product.metadata`` against ``product``,
  and ``customer.metadata`` / ``referrer.metadata`` against ``customer``, when present;
- a defined key's value: its type (``string``, ``number``, ``boolean``, ``date`` as
  ``2020-03-11``, ``datetime`` as ISO 8601 with a time zone, ``object``, ``geopoint`` as an object),
  a list of that type when ``array`` is true, and its constraints; ``null`` counts as absent;
- a key the schema does not define: refused under ``allow_defined_only``, otherwise accepted
  (Voucherify stores it as a string).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from airflow_provider_voucherify.models import Order

RESOURCES = ("order", "order_item", "customer", "product")

Errors = list[tuple[str, str]]

_LENGTH_NAMES = {"min_length": "minLength", "max_length": "maxLength", "exact_length": "exactLength"}
_COMPARISONS: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "lt": (operator.lt, "less than"),
    "lte": (operator.le, "at most"),
    "gt": (operator.gt, "greater than"),
    "gte": (operator.ge, "at least"),
}


def _digits(text: str, count: int) -> bool:
    return len(text) == count and text.isascii() and text.isdigit()


def _date(value: Any) -> bool:
    """``YYYY-MM-DD``, a real calendar day."""
    if not isinstance(value, str) or len(value) != 10 or value[4] + value[7] != "--":
        return False
    year, month, day = value[:4], value[5:7], value[8:]
    if not (_digits(year, 4) and _digits(month, 2) and _digits(day, 2)):
        return False
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def _datetime(value: Any) -> bool:
    """ISO 8601: a date, ``T``, ``hh:mm[:ss[.fraction]]`` and a zone (``Z`` or ``+hh:mm``)."""
    if not isinstance(value, str) or value[10:11] != "T" or not _date(value[:10]):
        return False
    rest = value[11:]
    if rest.endswith("Z"):
        clock, zone = rest[:-1], "+00:00"
    else:
        clock, zone = rest[:-6], rest[-6:]
    if len(zone) != 6 or zone[0] not in "+-" or zone[3] != ":":
        return False
    if not (_digits(zone[1:3], 2) and _digits(zone[4:], 2)) or int(zone[1:3]) > 23 or int(zone[4:]) > 59:
        return False
    hms, dot, fraction = clock.partition(".")
    parts = hms.split(":")
    if len(parts) not in (2, 3) or not all(_digits(part, 2) for part in parts):
        return False
    if dot and (len(parts) != 3 or not fraction.isascii() or not fraction.isdigit() or len(fraction) > 9):
        return False
    limits = (23, 59, 59)
    return all(int(part) <= limit for part, limit in zip(parts, limits[: len(parts)], strict=True))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda value: isinstance(value, str),
    "image_url": lambda value: isinstance(value, str),
    "number": _number,
    "boolean": lambda value: isinstance(value, bool),
    "date": _date,
    "datetime": _datetime,
    "object": lambda value: isinstance(value, dict),
    "geopoint": lambda value: isinstance(value, dict),
}
_TYPE_WORDS = {"date": "a date (YYYY-MM-DD)", "datetime": "an ISO 8601 datetime with a time zone"}


@dataclass(frozen=True)
class PropertyRule:
    """One defined metadata key: its type, whether it holds a list, whether it may be left out."""

    type: str
    array: bool = False
    optional: bool = True
    constraints: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> PropertyRule:
        constraints = {key: body[key] for key in ("eq", "ne", *_COMPARISONS) if body.get(key) is not None}
        for snake, camel in _LENGTH_NAMES.items():
            length = body.get(snake, body.get(camel))
            if length is not None:
                constraints[snake] = length
        return cls(
            type=str(body.get("type")),
            array=bool(body.get("array")),
            optional=body.get("optional") is not False,
            constraints=constraints,
        )

    @property
    def described(self) -> str:
        return f"array of {self.type}" if self.array else self.type

    def problem(self, value: Any) -> str | None:
        """What is wrong with a (non-null) value, without quoting it; ``None`` if it fits."""
        if self.array != isinstance(value, list):
            return f"should be {self.described}"
        for element in value if self.array else (value,):
            if problem := self._element_problem(element):
                return problem
        return None

    def _element_problem(self, value: Any) -> str | None:
        check = _TYPE_CHECKS.get(self.type)
        if check is not None and not check(value):
            return f"should be {_TYPE_WORDS.get(self.type, self.type)}" + (
                " in an array" if self.array else ""
            )
        allowed, refused = self.constraints.get("eq"), self.constraints.get("ne")
        if allowed and value not in allowed:
            return "should be one of the allowed values: " + ", ".join(str(v) for v in allowed)
        if refused and value in refused:
            return "should not be any of: " + ", ".join(str(v) for v in refused)
        if self.type == "number":
            for name, (holds, words) in _COMPARISONS.items():
                if name in self.constraints and not holds(value, self.constraints[name]):
                    return f"should be {words} {self.constraints[name]}"
        if self.type in ("string", "image_url"):
            return self._length_problem(len(value))
        return None

    def _length_problem(self, length: int) -> str | None:
        limits = self.constraints
        if "min_length" in limits and length < limits["min_length"]:
            return f"should be at least {limits['min_length']} characters long"
        if "max_length" in limits and length > limits["max_length"]:
            return f"should be at most {limits['max_length']} characters long"
        if "exact_length" in limits and length != limits["exact_length"]:
            return f"should be exactly {limits['exact_length']} characters long"
        return None


@dataclass(frozen=True)
class MetadataSchema:
    """A resource's metadata schema as the API serves it (deleted definitions left out)."""

    resource: str
    properties: Mapping[str, PropertyRule]
    allow_defined_only: bool = False

    @classmethod
    def from_api(cls, body: Mapping[str, Any], resource: str | None = None) -> MetadataSchema:
        """From the body of ``GET /v1/metadata-schemas/{resource}``.

        :raises ValueError: when ``properties`` is not an object
        """
        properties = body.get("properties") or {}
        if not isinstance(properties, Mapping):
            raise ValueError("a metadata schema's properties must be an object")
        return cls(
            resource=resource or str(body.get("related_object")),
            properties={
                key: PropertyRule.from_api(rule)
                for key, rule in properties.items()
                if isinstance(rule, Mapping) and not rule.get("deleted")
            },
            allow_defined_only=bool(body.get("allow_defined_only")),
        )

    def errors(self, metadata: Mapping[str, Any] | None, path: str) -> Errors:
        """Every ``(path, reason)`` the API would refuse ``metadata`` at ``path`` (``.metadata``) for."""
        given = metadata or {}
        found: Errors = []
        for key, value in given.items():
            rule = self.properties.get(key)
            if rule is None:
                if self.allow_defined_only:
                    found.append(
                        (
                            f"{path}.{key}",
                            f"not defined in the {self.resource} metadata schema,"
                            " which allows only defined metadata",
                        )
                    )
            elif value is not None and (problem := rule.problem(value)):
                found.append(
                    (f"{path}.{key}", f"{problem} (the {self.resource} metadata schema defines it so)")
                )
        for key, rule in self.properties.items():
            if not rule.optional and given.get(key) is None:
                found.append((f"{path}.{key}", f"required by the {self.resource} metadata schema"))
        return found


def metadata_holders(order: Order) -> Iterator[tuple[str, str, Mapping[str, Any] | None]]:
    """``(resource, path, metadata)`` of each part of ``order`` a schema governs (see the module doc)."""
    yield "order", ".metadata", order.metadata
    for party_name in ("customer", "referrer"):
        party = getattr(order, party_name)
        if party is not None and party.metadata is not None:
            yield "customer", f".{party_name}.metadata", party.metadata
    for index, item in enumerate(order.items or ()):
        if item.metadata is not None:
            yield "order_item", f".items[{index}].metadata", item.metadata
        if item.product is not None and item.product.metadata is not None:
            yield "product", f".items[{index}].product.metadata", item.product.metadata


def resources_used(order: Order) -> set[str]:
    """The resources whose schemas ``order`` needs checking against (those of
    :func:`metadata_holders`, found without building their paths: it runs for every order)."""
    used = {"order"}
    for party in (order.customer, order.referrer):
        if party is not None and party.metadata is not None:
            used.add("customer")
    for item in order.items or ():
        if item.metadata is not None:
            used.add("order_item")
        if item.product is not None and item.product.metadata is not None:
            used.add("product")
    return used


def order_errors(order: Order, schemas: Mapping[str, MetadataSchema | None]) -> Errors:
    """Every reason the project's schemas (by resource; ``None``: no schema) would refuse ``order``."""
    found: Errors = []
    for resource, path, metadata in metadata_holders(order):
        schema = schemas.get(resource)
        if schema is not None:
            found.extend(schema.errors(metadata, path))
    return found
