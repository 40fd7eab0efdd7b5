"""A throwaway Redis server for tests: ``redis-server`` on a free port, its files in a temp dir.

The binary comes from Debian's ``redis-server`` package (``make test`` installs it when missing).
Nothing is persisted: no RDB snapshots, no append-only file.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from airflow_provider_voucherify.emulator.testing import free_port


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1; ``url`` is what Celery's ``broker_url`` takes."""

    def __init__(self, binary: str = "redis-server") -> None:
        found = shutil.which(binary)
        if found is None:
            raise RuntimeError(f"{binary} not found: install Debian's 'redis-server' (make test does)")
        self.binary = found
        self.directory = Path(tempfile.mkdtemp(prefix="voucherify-redis-"))
        self.host, self.port = "127.0.0.1", free_port()
        self.log_path = self.directory / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 30) -> RedisServer:
        # The configuration as arguments: no file, no persistence, no protected mode on loopback.
        command = [self.binary, "--port", str(self.port), "--bind", self.host, "--dir", str(self.directory)]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", str(self.log_path)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.05)  # poll interval while the port opens
        return self

    def ping(self) -> bool:
        """Whether the server answers ``PING`` (the inline protocol needs no client library)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        process, self.process = self.process, None
        try:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(15)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
