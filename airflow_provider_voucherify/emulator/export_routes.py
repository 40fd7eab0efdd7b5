"""Routes of the Exports API on the API's port, and the download server of ``--download-port``."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response

from airflow_provider_voucherify.emulator.export_files import ExportRefusedError
from airflow_provider_voucherify.emulator.exports import ExportBook
from airflow_provider_voucherify.emulator.middleware import PROJECT_KEY

JsonAnswer = Callable[..., Response]
ErrorAnswer = Callable[..., Response]
NotFound = Callable[[Request, str, str], Response]
_UNAUTHORIZED = {"code": 401, "message": "Unauthorized", "key": "unauthorized"}  # the spec's example
CSV_TYPE = "text/csv; charset=utf-8"


def _file_answer(book: ExportBook, export_id: str, token: str | None, project: str | None) -> Response:
    path = book.file_for(export_id, token, project)
    if path is None:
        book.downloads.refused += 1
        return Response(json.dumps(_UNAUTHORIZED), status_code=401, media_type="application/json")
    return FileResponse(path, media_type=CSV_TYPE, filename=f"{export_id}.csv")


def export_routes(
    app: FastAPI,
    book: ExportBook,
    export_options: Callable[[], tuple[str, str]],
    answer: JsonAnswer,
    error: ErrorAnswer,
    not_found: NotFound,
) -> None:
    """``POST /v1/exports`` and ``GET /v1/exports/{id}``: with a ``token`` query parameter the
    latter is the download (the spec's two operations share the path; the download's servers are
    the ``download`` clusters, where ``--download-port`` serves it).

    :param export_options: the final status new exports end with, and the header form of their files
    """

    @app.post("/v1/exports")
    async def create_export(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError as exc:
            return error(
                request, 400, "invalid_payload", "Invalid payload", f"Request body is not valid JSON: {exc}"
            )
        final_status, header = export_options()
        try:
            export = book.create(request.scope[PROJECT_KEY], body, final_status, header)
        except ExportRefusedError as exc:
            message = "Invalid Export" if exc.key == "invalid_export_fields" else "Invalid payload"
            return error(request, 400, exc.key, message, exc.details)
        return answer(export)

    @app.get("/v1/exports/{export_id}")
    async def get_export(request: Request, export_id: str) -> Response:
        project: str = request.scope[PROJECT_KEY]
        if "token" in request.query_params:
            book.downloads.requests += 1
            return _file_answer(book, export_id, request.query_params["token"], project)
        export = book.get(project, export_id, str(request.base_url))
        return not_found(request, "export", export_id) if export is None else answer(export)


def download_app(book: ExportBook, tokens: dict[str, str]) -> FastAPI:
    """The download cluster: ``GET /v1/exports/{id}?token=...``, the token alone authorizing it.

    App Id / Token headers are not needed; when a request carries them they must be valid (401).
    Every download is counted, with the number that carried an ``X-App-Token`` and by host name.
    """
    app = FastAPI(title="Voucherify emulator downloads", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/v1/exports/{export_id}")
    async def download(request: Request, export_id: str) -> Response:
        counts = book.downloads
        counts.requests += 1
        host = request.headers.get("host", "").rsplit(":", 1)[0]
        counts.by_host[host] = counts.by_host.get(host, 0) + 1
        app_id, token = request.headers.get("x-app-id"), request.headers.get("x-app-token")
        if token is not None:
            counts.with_app_token += 1
            expected = tokens.get(app_id or "")
            if expected is None or not hmac.compare_digest(expected.encode(), token.encode()):
                counts.refused += 1
                return Response(json.dumps(_UNAUTHORIZED), status_code=401, media_type="application/json")
        return _file_answer(book, export_id, request.query_params.get("token"), None)

    @app.get("/_emulator/health")
    async def health() -> Response:
        return Response(json.dumps({"status": "ok", "serves": "downloads"}), media_type="application/json")

    return app


def describe_downloads(book: ExportBook) -> dict[str, Any]:
    return book.downloads.describe()
