"""The per-project import queue: one thread per project runs its imports one at a time, oldest first."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from airflow_provider_voucherify.emulator.config import MAX_ORDERS_PER_IMPORT
from airflow_provider_voucherify.emulator.customers import CustomerUpdater, bulk_result
from airflow_provider_voucherify.emulator.frontdoor import FrontDoor
from airflow_provider_voucherify.emulator.ids import iso_ms, now_ms
from airflow_provider_voucherify.emulator.processing import ChunkImporter
from airflow_provider_voucherify.emulator.schemas import SchemaBook
from airflow_provider_voucherify.emulator.store import (
    DONE,
    ENQUEUED,
    FAILED,
    IN_PROGRESS,
    ORDERS_IMPORT,
    Store,
    connect,
    transaction,
)

log = logging.getLogger(__name__)

# Orders stored per transaction at unlimited speed: requests in flight find the worker between
# chunks soon (see frontdoor.py).
_MAX_CHUNK = 500
# At a set speed a chunk is what lands in a tenth of a second, up to a whole import. A time-scaled
# emulator runs hundreds of thousands of orders per real second: one transaction per import
# instead of four saves three chunks' fixed costs and pauses for requests in flight. Measured on
# the plan-limits benchmark (alternately, twice each): 1.044 of the physical minimum against 1.052
# with chunks of 500, the worker slot held 8.7-8.9 % against 8.1-8.3 %.
_MAX_TIMED_CHUNK = MAX_ORDERS_PER_IMPORT
_IDLE_WAIT_SECONDS = 1.0  # a safety net only: accepting an import wakes the worker at once


def _result(done: int, failed: list[Any], message: str | None = None) -> str:
    text = message or f"{done} order(s) imported successfully, {len(failed)} failed."
    return json.dumps({"message": text, "done_count": done, "failed_count": len(failed), "failed": failed})


class ImportWorker(threading.Thread):
    """Processes one project's queue at ``orders_per_second`` (0: as fast as it can).

    Each chunk's upserts and the import's progress commit in one transaction, so after a crash or
    a stop the import resumes exactly where it was: no order is applied twice.
    """

    def __init__(
        self,
        store: Store,
        project: str,
        orders_per_second: float,
        schemas: SchemaBook | None = None,
        overhead_seconds: float = 0.0,
        front_door: FrontDoor | None = None,
        held: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__(name=f"voucherify-import-{project}", daemon=True)
        self.front_door = front_door or FrontDoor()
        self.store, self.project, self.orders_per_second = store, project, orders_per_second
        self.overhead_seconds = overhead_seconds  # real seconds before an action's first record
        self.schemas = schemas or SchemaBook()
        self.held = held  # no queued import starts while it answers true; notify() on release
        self.chunk = (
            _MAX_CHUNK
            if orders_per_second <= 0
            else max(1, min(_MAX_TIMED_CHUNK, int(orders_per_second / 10)))
        )
        self.wake = threading.Event()
        self.stopping = threading.Event()

    def notify(self) -> None:
        self.wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.wake.set()
        self.join(timeout)

    def run(self) -> None:
        conn = connect(self.store.path)
        try:
            while not self.stopping.is_set():
                self.wake.clear()
                with self.store.lock:
                    generation = self.store.generation
                    job = self._next(conn, started_only=self.held())
                if job is None:
                    self.wake.wait(_IDLE_WAIT_SECONDS)
                    continue
                try:
                    self._process(conn, job, generation)
                except Exception as exc:
                    log.exception("import %s failed", job[0])
                    self._finish(conn, job[0], generation, FAILED, _result(0, [], f"Internal error: {exc}"))
        finally:
            conn.close()

    def _next(self, conn: sqlite3.Connection, started_only: bool = False) -> tuple[Any, ...] | None:
        """The import to work on: one in progress first, else the oldest queued (unless ``started_only``)."""
        statuses = (IN_PROGRESS, IN_PROGRESS) if started_only else (ENQUEUED, IN_PROGRESS)
        row: tuple[Any, ...] | None = conn.execute(
            "SELECT id, status, order_count, processed, done_count, failed, fail_whole, payload, type"
            " FROM imports WHERE project = ? AND status IN (?, ?)"
            " ORDER BY status = ? DESC, seq LIMIT 1",
            (self.project, *statuses, IN_PROGRESS),
        ).fetchone()
        return row

    def _process(self, conn: sqlite3.Connection, job: tuple[Any, ...], generation: int) -> None:
        action_id, status, count, processed, done, failed_json, fail_whole, payload, kind = job
        if status == ENQUEUED:
            with self.store.lock:
                if generation != self.store.generation:
                    return
                now = now_ms()
                conn.execute(
                    "UPDATE imports SET status = ?, started_ms = ?, updated_ms = ? WHERE id = ?",
                    (IN_PROGRESS, now, now, action_id),
                )
        if fail_whole:
            self._finish(conn, action_id, generation, FAILED, _result(0, [], "Internal error"))
            return
        orders = bytes(payload).decode().split("\n")
        failed: list[Any] = json.loads(failed_json)
        if processed == 0 and self.overhead_seconds > 0 and self.stopping.wait(self.overhead_seconds):
            return
        started, base = time.monotonic(), processed
        while processed < count:
            chunk = orders[processed : processed + self.chunk]
            if self.orders_per_second > 0:
                # A chunk "takes" its share of time before it lands, so N orders finish after N/speed s.
                due = started + (processed - base + len(chunk)) / self.orders_per_second
                if self.stopping.wait(max(0.0, due - time.monotonic())):
                    return
            elif self.stopping.is_set():
                return
            self.front_door.wait_until_clear()
            with self.store.lock:
                if generation != self.store.generation:
                    return
                now = now_ms()
                cpu_started = time.thread_time()
                with transaction(conn):
                    if kind == ORDERS_IMPORT:
                        importer = ChunkImporter(conn, self.project, iso_ms(now), self.schemas.snapshot())
                        chunk_done, chunk_failed = importer.run(chunk)
                    else:
                        chunk_done, chunk_failed = CustomerUpdater(conn, self.project, iso_ms(now)).run(chunk)
                    done += chunk_done
                    failed.extend(chunk_failed)
                    processed += len(chunk)
                    if processed < count:
                        conn.execute(
                            "UPDATE imports SET processed = ?, done_count = ?, failed = ?, updated_ms = ?"
                            " WHERE id = ?",
                            (processed, done, json.dumps(failed), now, action_id),
                        )
                    else:
                        result = (
                            _result(done, failed) if kind == ORDERS_IMPORT else bulk_result(done, failed, now)
                        )
                        self._write_end(conn, action_id, DONE, result, now, processed)
                # CPU time of this thread only: the benchmark's "orders per second on one core".
                self.store.processing_cpu_seconds += time.thread_time() - cpu_started

    def _finish(
        self, conn: sqlite3.Connection, action_id: str, generation: int, status: str, result: str
    ) -> None:
        with self.store.lock:
            if generation == self.store.generation:
                self._write_end(conn, action_id, status, result, now_ms(), None)

    @staticmethod
    def _write_end(
        conn: sqlite3.Connection, action_id: str, status: str, result: str, now: int, processed: int | None
    ) -> None:
        conn.execute(
            "UPDATE imports SET status = ?, result = ?, finished_ms = ?, updated_ms = ?,"
            " processed = coalesce(?, processed), started_ms = coalesce(started_ms, ?) WHERE id = ?",
            (status, result, now, now, processed, now, action_id),
        )
