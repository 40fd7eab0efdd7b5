"""Validate JSON against a schema of the official OpenAPI files (tests/spec/, see SOURCES.md)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator

SPEC_DIR = Path(__file__).resolve().parent / "spec"


@cache
def load_spec(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((SPEC_DIR / name).read_text())
    return spec


def validator(
    spec_name: str, schema_name: str, patch: Callable[[dict[str, Any]], None] | None = None
) -> OAS30Validator:
    """A validator for ``components.schemas[schema_name]``; ``patch`` may drop a known spec defect."""
    components = copy.deepcopy(load_spec(spec_name)["components"])
    if patch is not None:
        patch(components["schemas"])
    return OAS30Validator({"$ref": f"#/components/schemas/{schema_name}", "components": components})


def drop_order_item_required_object(schemas: dict[str, Any]) -> None:
    """A spec defect (docs/architecture.md): OrderItem requires an ``object`` property it never defines."""
    assert schemas["OrderItem"]["required"] == ["object"]
    del schemas["OrderItem"]["required"]


def import_examples() -> list[dict[str, Any]]:
    """The seven orders of the API's own ``POST /v1/orders/import`` example."""
    body = load_spec("orders.openapi.json")["paths"]["/v1/orders/import"]["post"]["requestBody"]
    examples: list[dict[str, Any]] = body["content"]["application/json"]["examples"]["Example"]["value"]
    return examples
