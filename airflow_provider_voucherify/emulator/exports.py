"""The Exports API: ``POST /v1/exports``, ``GET /v1/exports/{id}`` and the download of the CSV file.

An export is ``SCHEDULED`` for ``--export-overhead`` emulated seconds, then ``IN_PROGRESS`` while
its file is written and for as long as its rows take at ``--export-rows-per-second`` (emulated
time; 0 = no wait), then ``DONE`` with ``result.url``: the file's address with a token
(``.../v1/exports/{id}?token=...``; 401 without it). The fault ``export_status`` makes exports
end with another status instead (``ERROR``, the spec's failure, or any text: a status a client
does not know). Creating and reading an export are ordinary API calls (authenticated, rate limited,
counted); the download is served by the API's port, or with ``--download-port`` by a second server
under another host name (``--download-host``, default ``localhost``), as the real API serves them
from its ``download`` clusters: that one counts the downloads and those that carried an
``X-App-Token`` (``GET /_emulator/stats``: ``downloads``), so a test can see where a client sent it.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_voucherify.emulator.export_files import ExportRequest, read_request, write_export
from airflow_provider_voucherify.emulator.ids import alnum_id, iso_ms, now_ms
from airflow_provider_voucherify.emulator.store import Store, connect

log = logging.getLogger(__name__)
DONE = "DONE"
_COLUMNS = "id, project, created_ms, start_ms, done_ms, final_status, token, request"


@dataclass
class ExportSettings:
    """How fast exports run (real time) and what their files look like."""

    rows_per_second: float = 0.0  # real rows per second; 0 = no wait beyond writing the file
    overhead_seconds: float = 0.0  # real seconds SCHEDULED before work starts
    header: str = "keys"  # "keys" or "labels" (the control's export_header overrides it)
    download_base: str | None = None  # another server's base URL for downloads; None = the API's own


@dataclass
class DownloadCounts:
    requests: int = 0
    with_app_token: int = 0
    refused: int = 0
    by_host: dict[str, int] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "with_app_token": self.with_app_token,
            "refused": self.refused,
            "by_host": dict(self.by_host),
        }


class ExportBook:
    """The project's exports (SQLite table ``exports``) and their files, one writer thread per export."""

    def __init__(
        self, store: Store, settings: ExportSettings, parse_date: Callable[[str], int | None]
    ) -> None:
        self.store, self.settings, self.parse_date = store, settings, parse_date
        self.directory = store.path.parent / f"{store.path.name}-exports"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.downloads = DownloadCounts()
        self.stopping = threading.Event()

    def path(self, export_id: str) -> Path:
        return self.directory / f"{export_id}.csv"

    def create(self, project: str, body: Any, final_status: str, header: str) -> dict[str, Any]:
        """Accept an export (``ExportRefusedError`` when the API refuses it) and start its writer."""
        request = read_request(body, self.parse_date)
        export_id, created = alnum_id("exp"), now_ms()
        start = created + round(self.settings.overhead_seconds * 1000)
        stored = json.dumps({"request": body, "header": header})
        with self.store.lock:
            self.store.conn.execute(
                f"INSERT INTO exports ({_COLUMNS}) VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
                (export_id, project, created, start, final_status, secrets.token_urlsafe(24), stored),
            )
            generation = self.store.generation
        self._start_writer(export_id, project, request, header, start, generation)
        row = self._row(export_id)
        assert row is not None
        return self.describe(row, "", scheduled=True)

    def resume(self) -> None:
        """Start again the writers of exports whose file was not finished (after a restart)."""
        rows = self.store.conn.execute(
            f"SELECT {_COLUMNS} FROM exports WHERE done_ms IS NULL ORDER BY created_ms"
        ).fetchall()
        for export_id, project, _, start, _, _, _, stored in rows:
            saved = json.loads(stored)
            request = read_request(saved["request"], self.parse_date)
            self._start_writer(export_id, project, request, saved["header"], start, self.store.generation)

    def _start_writer(
        self, export_id: str, project: str, request: ExportRequest, header: str, start: int, generation: int
    ) -> None:
        thread = threading.Thread(
            target=self._write,
            args=(export_id, project, request, header, start, generation),
            name=f"voucherify-export-{export_id}",
            daemon=True,
        )
        thread.start()

    def _write(
        self, export_id: str, project: str, request: ExportRequest, header: str, start: int, generation: int
    ) -> None:
        if self.stopping.wait(max(0.0, (start - now_ms()) / 1000)):
            return
        conn = connect(self.store.path)
        try:
            try:
                rows = write_export(conn, project, request, self.path(export_id), header)
            except Exception:
                log.exception("export %s failed", export_id)
                rows = -1
            rate = self.settings.rows_per_second
            due = start + (round(max(rows, 0) * 1000 / rate) if rate > 0 else 0)
            with self.store.lock:
                if generation == self.store.generation:
                    conn.execute(
                        "UPDATE exports SET done_ms = ?, final_status = coalesce(?, final_status)"
                        " WHERE id = ?",
                        (max(due, now_ms()), None if rows >= 0 else "ERROR", export_id),
                    )
        finally:
            conn.close()

    def _row(self, export_id: str) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.store.conn.execute(
            f"SELECT {_COLUMNS} FROM exports WHERE id = ?", (export_id,)
        ).fetchone()
        return row

    def get(self, project: str, export_id: str, base_url: str) -> dict[str, Any] | None:
        row = self._row(export_id)
        if row is None or row[1] != project:
            return None
        return self.describe(row, base_url)

    def describe(self, row: tuple[Any, ...], base_url: str, scheduled: bool = False) -> dict[str, Any]:
        """The export object as ``GET /v1/exports/{id}`` answers it, its status read from the clock
        (``SCHEDULED`` when just created, as ``POST /v1/exports`` answers)."""
        export_id, _, created, start, done, final_status, token, stored = row
        now = now_ms()
        if scheduled or now < start:
            status = "SCHEDULED"
        elif done is None or now < done:
            status = "IN_PROGRESS"
        else:
            status = final_status
        request = read_request(json.loads(stored)["request"], self.parse_date)
        base = (self.settings.download_base or base_url).rstrip("/")
        result = {"url": f"{base}/v1/exports/{export_id}?token={token}"} if status == DONE else None
        return {
            "id": export_id,
            "object": "export",
            "created_at": iso_ms(created),
            "status": status,
            "channel": "API",
            "exported_object": request.exported_object,
            "parameters": request.parameters,
            "result": result,
            "user_id": None,
        }

    def file_for(self, export_id: str, token: str | None, project: str | None = None) -> Path | None:
        """The file of a ``DONE`` export whose token is ``token`` (and of ``project`` when given)."""
        row = self._row(export_id)
        if row is None or token is None or not hmac.compare_digest(row[6].encode(), token.encode()):
            return None
        if project is not None and row[1] != project:
            return None
        if row[4] is None or now_ms() < row[4] or row[5] != DONE:
            return None
        path = self.path(export_id)
        return path if path.exists() else None

    def reset(self) -> None:
        """Forget every file (the table is emptied with the store's)."""
        self.downloads = DownloadCounts()
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True, exist_ok=True)

    def stop(self) -> None:
        self.stopping.set()
