"""Run the emulator as a subprocess for tests: :class:`EmulatorServer` and pytest fixtures.

Register the fixtures once in the top-level ``conftest.py``::

    pytest_plugins = ["airflow_provider_voucherify.emulator.testing"]

``voucherify_emulator`` is one server per session (unlimited import speed); ``emulator`` is the same
server, reset before each test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from airflow_provider_voucherify.emulator._extras import require

# The fixtures need pytest here and start the emulator (FastAPI, Uvicorn) with this interpreter.
require("pytest", "fastapi", "uvicorn", extra="testing")

import pytest  # noqa: E402

from airflow_provider_voucherify.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_TOKEN  # noqa: E402

TERMINAL_STATUSES = frozenset({"DONE", "FAILED"})


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmulatorError(RuntimeError):
    """The emulator process did not start or stop as expected."""


class EmulatorServer:
    """One emulator process on a free port, its SQLite file in ``directory``.

    ``flags`` become command-line options: ``orders_per_second=5`` gives ``--orders-per-second 5``.
    """

    def __init__(
        self,
        directory: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        app_id: str = DEFAULT_APP_ID,
        app_token: str = DEFAULT_APP_TOKEN,
        startup_timeout: float = 30.0,
        **flags: Any,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.host, self.port = host, port or free_port(host)
        self.app_id, self.app_token = app_id, app_token
        self.db_path = self.directory / "voucherify-emulator.db"
        self.log_path = self.directory / f"voucherify-emulator-{self.port}.log"
        self.startup_timeout = startup_timeout
        self.flags = flags
        self.process: subprocess.Popen[bytes] | None = None
        self._control = httpx.Client(base_url=self.url, timeout=30.0)

    # ---- what tests read
    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address, as URLs write it
        return f"http://{host}:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"X-App-Id": self.app_id, "X-App-Token": self.app_token}

    @property
    def conn_json(self) -> str:
        """The JSON form of an Airflow connection to this server (``AIRFLOW_CONN_...``)."""
        return json.dumps(
            {"conn_type": "voucherify", "host": self.url, "login": self.app_id, "password": self.app_token}
        )

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client for the API, authenticated as this server's project."""
        return httpx.Client(base_url=self.url, headers=self.headers, **{"timeout": 30.0, **kwargs})

    # ---- lifecycle
    def command(self) -> list[str]:
        args = [sys.executable, "-m", "airflow_provider_voucherify.emulator"]
        args += ["--host", self.host, "--port", str(self.port), "--db", str(self.db_path)]
        args += ["--app-id", self.app_id, "--app-token", self.app_token]
        for name, value in self.flags.items():
            if value is not None:
                args += ["--" + name.replace("_", "-"), str(value)]
        return args

    def start(self) -> EmulatorServer:
        if self.process is not None and self.process.poll() is None:
            return self
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmulatorError(f"emulator exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self._control.get("/_emulator/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # poll interval while waiting for the port to open
        self.stop(graceful=False)
        raise EmulatorError(f"emulator not healthy within {self.startup_timeout} s:\n{self.log_tail()}")

    def stop(self, graceful: bool = True, timeout: float = 15.0) -> None:
        """Stop the process: SIGTERM and a clean shutdown, or SIGKILL (a crash) with ``graceful=False``."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
            raise EmulatorError(f"emulator ignored SIGTERM for {timeout} s:\n{self.log_tail()}") from None

    def kill(self) -> None:
        self.stop(graceful=False)

    def restart(self, graceful: bool = True, **changed_flags: Any) -> EmulatorServer:
        """Stop and start again on the same port and database, with some flags changed."""
        self.stop(graceful=graceful)
        self.flags.update(changed_flags)
        return self.start()

    def close(self) -> None:
        self.stop()
        self._control.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # ---- control endpoints
    def stats(self) -> dict[str, Any]:
        return dict(self._checked(self._control.get("/_emulator/stats")).json())

    def clock(self) -> tuple[float, float]:
        """``(emulated now, real now)``, in epoch seconds, as the emulator sees them at once."""
        body = self._checked(self._control.get("/_emulator/clock")).json()
        return float(body["now"]), float(body["real_now"])

    def advance_clock(self, seconds: float = 0.0, *, to_top_of: float | None = None) -> float:
        """Move the emulated clock forward by ``seconds`` emulated seconds, then with ``to_top_of``
        on to the start of the next window of that length (``to_top_of=3600``: the next hour), so a
        test starts a rate-limit window at a known moment without waiting for it.

        :returns: the emulated epoch seconds after the move
        :raises EmulatorError: for a negative move
        """
        move: dict[str, float] = {"advance": seconds}
        if to_top_of is not None:
            move["to_top_of"] = to_top_of
        return float(self._checked(self._control.post("/_emulator/clock", json=move)).json()["now"])

    def advance_clock_to_window_end(self, left: float, *, window: float = 3600.0) -> float:
        """Move the emulated clock to ``left`` emulated seconds before the end of the next window of
        ``window`` seconds, so a test's next call meets a window about to close (the wait a refusal
        then announces is short and known, not whatever part of the window real time left).

        :returns: the emulated epoch seconds after the move
        :raises EmulatorError: for ``left`` outside ``[0, window]``
        """
        if not 0.0 <= left <= window:
            raise EmulatorError(f"left must be within the window's {window} s, got {left}")
        self.advance_clock(to_top_of=window)
        return self.advance_clock(window - left)

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the fault config (see ``FaultConfig``); unnamed faults are cleared."""
        return dict(self._checked(self._control.post("/_emulator/faults", json=faults)).json())

    def clear_faults(self) -> dict[str, Any]:
        return self.set_faults()

    def reset(self) -> None:
        self._checked(self._control.post("/_emulator/reset"))

    def set_metadata_schemas(self, schemas: Any) -> dict[str, Any]:
        """Set metadata schemas by resource (``{"order": {"properties": ..., ...}}``; ``None`` removes)."""
        return dict(self._checked(self._control.put("/_emulator/metadata-schemas", json=schemas)).json())

    @staticmethod
    def _checked(response: httpx.Response) -> httpx.Response:
        if response.is_error:
            raise EmulatorError(
                f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
            )
        return response


def wait_for_actions(
    server: EmulatorServer, ids: Iterable[str], deadline_s: float = 30.0, client: httpx.Client | None = None
) -> dict[str, Any]:
    """Poll ``GET /v1/async-actions/{id}`` until every action is DONE or FAILED; returns them by id.

    ``client`` polls as another project than the server's default one.
    """
    pending = list(ids)
    finished: dict[str, Any] = {}
    deadline = time.monotonic() + deadline_s
    with server.client() if client is None else nullcontext(client) as client:
        while pending:
            for action_id in list(pending):
                response = client.get(f"/v1/async-actions/{action_id}")
                response.raise_for_status()
                action = response.json()
                if action["status"] in TERMINAL_STATUSES:
                    finished[action_id] = action
                    pending.remove(action_id)
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"async actions not finished after {deadline_s} s: {pending}")
            if pending:
                time.sleep(0.02)  # poll interval
    return finished


@pytest.fixture(scope="session")
def voucherify_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """One emulator for the whole session, importing as fast as it can."""
    with EmulatorServer(tmp_path_factory.mktemp("voucherify-emulator"), orders_per_second=0) as server:
        yield server


@pytest.fixture
def emulator(voucherify_emulator: EmulatorServer) -> EmulatorServer:
    """The session's emulator, wiped (data, stats, faults) for this test."""
    voucherify_emulator.reset()
    return voucherify_emulator
