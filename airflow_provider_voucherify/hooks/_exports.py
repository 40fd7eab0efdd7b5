"""The Exports API calls of :class:`~airflow_provider_voucherify.hooks.voucherify.VoucherifyHook`.

Which hosts get the connection's credentials on a download, and why: Voucherify's export guide says
to download ``result.url`` "together with authentication headers", and the download operation of the
spec (``exports.openapi.json``) lists the ``download`` clusters as its servers:
``download.voucherify.io`` (Europe, the ``api`` cluster's region), ``us1.download.voucherify.io`` and
``as1.download.voucherify.io``. So the App Id and Token go to the connection's own origin (scheme,
host and port: the emulator, a proxy, a dedicated host) and, over https, to the documented download
cluster of the connection's own region; to any other host, the request carries only the URL's own
token. A redirect is followed by hand, hop by hop, under the same rule, so no redirect can carry
the App Token to a host the rule would not send it to.
"""

from __future__ import annotations

import codecs
import csv
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_voucherify.exceptions import VoucherifyError
from airflow_provider_voucherify.hooks._config import CLUSTERS
from airflow_provider_voucherify.hooks._retry import RetryDecision
from airflow_provider_voucherify.paths import path_segment

if TYPE_CHECKING:
    from airflow_provider_voucherify.hooks._config import ClientSettings

CREATE_ENDPOINT = "POST /v1/exports"
GET_ENDPOINT = "GET /v1/exports/{id}"
DOWNLOAD_ENDPOINT = "GET export file (result.url)"
DONE = "DONE"
UNFINISHED_STATUSES = frozenset({"SCHEDULED", "IN_PROGRESS"})
# The spec's fields of an export created without any (``POST /v1/exports``, "Defaults").
DEFAULT_FIELDS = {"order": ("id", "source_id", "status"), "customer": ("name", "source_id")}
# The API cluster of each region, and its download cluster (the download operation's servers).
DOWNLOAD_CLUSTERS = {
    httpx.URL(CLUSTERS[alias]).host: f"{alias.removesuffix('api')}download.voucherify.io"
    for alias in CLUSTERS
}
CREDENTIAL_HEADERS = ("X-App-Id", "X-App-Token")
_MAX_REDIRECTS = 5
_CHUNK = 64 * 1024


def credentials_allowed(base_url: str, url: httpx.URL) -> bool:
    """Whether a request to ``url`` may carry the App Id and Token of a connection to ``base_url``:
    the same origin (scheme, host, port), or over https the download cluster of its region."""
    base = httpx.URL(base_url)
    if (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port):
        return True
    download = DOWNLOAD_CLUSTERS.get(base.host)
    return url.scheme == "https" and url.port is None and download is not None and url.host == download


def redacted(url: httpx.URL) -> str:
    """``url`` without its query's values (the export's download token)."""
    return str(url.copy_with(query=None)) + ("?token=***" if url.query else "")


def column_names(header: Sequence[str], fields: Sequence[str]) -> list[str]:
    """The field name of each column: the header's own names when they are the requested keys (in
    any order), else the requested fields by position (a header of labels, ``Source ID``).

    :raises ValueError: when the header is neither (another number of columns than fields)
    """
    names = [name.strip() for name in header]
    if not fields or sorted(names) == sorted(fields):
        return names
    if len(names) == len(fields):
        return list(fields)
    raise ValueError(
        f"the file's header has {len(names)} columns ({', '.join(names)}),"
        f" not the {len(fields)} fields requested"
    )


def _lines(chunks: Iterator[bytes]) -> Iterator[str]:
    """UTF-8 text (a byte order mark dropped) cut after each ``\\n``: what csv.reader reads a file as."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    for chunk in chunks:
        pending += decoder.decode(chunk)
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


class ExportsMixin:
    """``create_export``, ``get_export`` and ``download_export``; mixed into ``VoucherifyHook``,
    whose request loop, settings and client they use."""

    if TYPE_CHECKING:
        voucherify_conn_id: str

        @property
        def settings(self) -> ClientSettings: ...
        def get_conn(self) -> httpx.Client: ...
        def _request(
            self,
            method: str,
            path: str,
            endpoint: str,
            *,
            content: bytes | None = None,
            resend_safe: bool = True,
        ) -> httpx.Response: ...
        def _get_json(self, endpoint: str, key: str) -> dict[str, Any]: ...
        async def _arequest(self, method: str, path: str, endpoint: str) -> httpx.Response: ...
        def _observe(self, outcome: httpx.Response | httpx.TransportError) -> None: ...
        def _decide(
            self,
            endpoint: str,
            outcome: httpx.Response | httpx.TransportError,
            attempt: int,
            resend_safe: bool,
        ) -> RetryDecision: ...

    def create_export(
        self,
        exported_object: str,
        fields: Sequence[str],
        filters: Mapping[str, Any] | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/exports``: schedule an export; returns the export object (``id``, ``status``
        ``SCHEDULED``, ``parameters``...).

        :param exported_object: ``order``, ``customer``, ... (the spec's ``exported_object``)
        :param fields: the columns, in order (``source_id``, ``metadata.channel``); empty: the API's defaults
        :param filters: as the spec writes them, e.g.
            ``{"created_at": {"conditions": {"$after": ["2024-01-01T00:00:00Z"]}}, "junction": "and"}``
        :param order: the sort, e.g. ``-created_at``
        :raises VoucherifyApiError: when the API refuses it (400 ``invalid_export_fields``, ...)
        """
        parameters: dict[str, Any] = {}
        if order is not None:
            parameters["order"] = order
        if fields:
            parameters["fields"] = list(fields)
        if filters is not None:
            parameters["filters"] = dict(filters)
        body = {"exported_object": exported_object, "parameters": parameters}
        # A resent POST may schedule a second export: harmless (one more file), so retried.
        response = self._request("POST", "/v1/exports", CREATE_ENDPOINT, content=_json(body))
        export: dict[str, Any] = response.json()
        return export

    def get_export(self, export_id: str) -> dict[str, Any]:
        """``GET /v1/exports/{id}``: the export, its ``status`` ``SCHEDULED``, ``IN_PROGRESS``,
        ``DONE`` or ``ERROR`` (the spec's; treat any other final status as a failure too); once
        ``DONE``, ``result.url`` is the file's address.

        :raises VoucherifyApiError: 404 for an unknown id, ...
        """
        return self._get_json(GET_ENDPOINT, export_id)

    async def aget_export(self, export_id: str) -> dict[str, Any]:
        """Async twin of :meth:`get_export`, for the trigger."""
        path = "/v1/exports/" + path_segment(export_id, f"id of {GET_ENDPOINT}")
        export: dict[str, Any] = (await self._arequest("GET", path, GET_ENDPOINT)).json()
        return export

    def download_export(self, export: Mapping[str, Any]) -> Iterator[dict[str, str]]:
        """Stream the CSV rows of a ``DONE`` export from ``result.url``, each keyed by field name
        (``source_id``, ``metadata.channel``) whether the file's header writes keys or labels (then
        the columns are mapped by position to the export's ``parameters.fields``); flat memory.

        The connection's App Id and Token go only to the connection's own host or to its region's
        download cluster (see this module's docstring); rate limits and server errors before the
        first row are retried as any call.

        :param export: the export object, as :meth:`get_export` returns it
        :raises VoucherifyError: when the export is not ``DONE`` or has no URL, or the file's header
            does not fit the fields; ``VoucherifyApiError`` (401: a wrong token) for an error answer
        """
        export_id = str(export.get("id"))
        status = export.get("status")
        url = (export.get("result") or {}).get("url")
        if status != DONE or not isinstance(url, str) or not url:
            raise VoucherifyError(
                f"Export {export_id} is {status}, not DONE with a result.url: nothing to download"
            )
        parameters = export.get("parameters") or {}
        fields = parameters.get("fields") or DEFAULT_FIELDS.get(str(export.get("exported_object")), ())
        return self._rows(export_id, httpx.URL(url), [str(field) for field in fields])

    def _rows(self, export_id: str, url: httpx.URL, fields: list[str]) -> Iterator[dict[str, str]]:
        response = self._open_download(url)
        try:
            reader = csv.reader(_lines(response.iter_bytes(_CHUNK)))
            header = next(reader, None)
            if header is None:
                return
            try:
                names = column_names(header, fields)
            except ValueError as exc:
                raise VoucherifyError(f"Export {export_id}: {exc}") from None
            for row in reader:
                if len(row) != len(names):
                    raise VoucherifyError(
                        f"Export {export_id}: row {reader.line_num} has {len(row)} columns, not {len(names)}"
                    )
                yield dict(zip(names, row, strict=True))
        except httpx.TransportError as exc:
            raise VoucherifyError(
                f"{DOWNLOAD_ENDPOINT} of export {export_id} broke off ({type(exc).__name__})"
                f" (url={redacted(url)})"
            ) from exc
        finally:
            response.close()

    def _open_download(self, url: httpx.URL) -> httpx.Response:
        """The download's response, its body not read yet: retried, and redirects followed by hand."""
        client, base_url = self.get_conn(), self.settings.base_url
        attempt = hops = 0
        while True:
            request = client.build_request("GET", url, headers={"Accept": "text/csv, */*"})
            if not credentials_allowed(base_url, url):
                for name in CREDENTIAL_HEADERS:
                    request.headers.pop(name, None)
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = client.send(request, stream=True, follow_redirects=False)
            except httpx.TransportError as exc:
                outcome = exc
            self._observe(outcome)
            if isinstance(outcome, httpx.Response):
                if outcome.is_success:
                    return outcome
                outcome.read()
                outcome.close()
                if outcome.is_redirect and hops < _MAX_REDIRECTS and "location" in outcome.headers:
                    url, hops = url.join(outcome.headers["location"]), hops + 1
                    continue
            decision = self._decide(DOWNLOAD_ENDPOINT, outcome, attempt, True)
            if decision.error is not None:
                raise decision.error.locate(url=redacted(url), conn_id=self.voucherify_conn_id)
            time.sleep(decision.wait or 0.0)
            attempt += 1


def _json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
