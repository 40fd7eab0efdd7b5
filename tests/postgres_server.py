"""A throwaway PostgreSQL cluster for tests: ``initdb`` + ``pg_ctl`` on a free port in a temp dir.

The server binaries come from Debian's ``postgresql`` package (``make test`` installs it when
missing). PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres``
user (or ``nobody``) and is started through ``runuser``. Set ``VOUCHERIFY_SKIP_POSTGRES=1`` to
skip the PostgreSQL tests on a machine without it; anywhere else a missing server fails them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import free_port

SKIP_VARIABLE = "VOUCHERIFY_SKIP_POSTGRES"


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``pg_ctl``."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]), reverse=True
    )
    return Path(candidates[0]).parent if candidates else None


def _service_user() -> str | None:
    """Who runs the server: nobody else when we are not root; ``postgres`` (or ``nobody``) as root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root, and neither a 'postgres' nor a 'nobody' user exists")


class PostgresServer:
    """One cluster, trust authentication on 127.0.0.1, user ``postgres``, fsync off."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.user = _service_user()
        self.directory = Path(tempfile.mkdtemp(prefix="voucherify-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.host = "127.0.0.1"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def start(self) -> PostgresServer:
        if self.user is not None:
            shutil.chown(self.directory, self.user)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.directory} -c listen_addresses={self.host} -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "server.log"),
            "-w",
            "start",
        )
        return self

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def connect(self, dbname: str = "postgres") -> Any:
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                return psycopg2.connect(host=self.host, port=self.port, user="postgres", dbname=dbname)
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # poll interval while the server finishes starting

    def create_database(self, name: str) -> None:
        conn = self.connect()
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def conn_uri(self, dbname: str) -> str:
        """An Airflow connection URI (``AIRFLOW_CONN_...``) to ``dbname``."""
        return f"postgresql://postgres@{self.host}:{self.port}/{dbname}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session; fails (never skips) when the binaries are missing."""
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"{SKIP_VARIABLE}=1")
    bindir = find_bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: install Debian's "
            f"'postgresql' package (make test does), or set {SKIP_VARIABLE}=1 to skip these tests locally",
            pytrace=False,
        )
    server = PostgresServer(bindir).start()
    try:
        yield server
    finally:
        server.stop()
