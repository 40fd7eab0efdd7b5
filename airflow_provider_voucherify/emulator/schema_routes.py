"""Routes of the metadata schemas: the API's two reads, and the ``/_emulator`` control that sets them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from airflow_provider_voucherify.emulator.middleware import segment
from airflow_provider_voucherify.emulator.schemas import SchemaBook, parse_schemas

JsonAnswer = Callable[..., Response]
NotFound = Callable[[Request, str, str], Response]


def schema_routes(app: FastAPI, book: SchemaBook, answer: JsonAnswer, not_found: NotFound) -> None:
    """``GET /v1/metadata-schemas[/{resource}]``, and ``GET``/``PUT /_emulator/metadata-schemas``.

    The control takes ``{resource: {"properties": {...}, "allow_defined_only": bool} | null, ...}``
    (or a list of ``metadata_schema`` objects): the named resources are replaced, ``null`` removes one.
    ``POST /_emulator/reset`` restores the schemas given with ``--metadata-schemas``.
    """

    def listing() -> dict[str, Any]:
        schemas = book.all()
        return {"object": "list", "data_ref": "schemas", "schemas": schemas, "total": len(schemas)}

    @app.get("/v1/metadata-schemas")
    async def list_metadata_schemas() -> Response:
        return answer(listing())

    @app.get("/v1/metadata-schemas/{resource}")
    async def get_metadata_schema(request: Request, resource: str) -> Response:
        resource = segment(resource)
        schema = book.get(resource)
        return not_found(request, "metadata_schema", resource) if schema is None else answer(schema)

    @app.get("/_emulator/metadata-schemas")
    async def get_control() -> Response:
        return answer(listing())

    @app.put("/_emulator/metadata-schemas")
    async def set_control(request: Request) -> Response:
        try:
            book.replace(parse_schemas(json.loads(await request.body() or b"{}")))
        except ValueError as exc:
            return answer({"error": "invalid metadata schemas", "details": str(exc)}, 422)
        return answer(listing())
