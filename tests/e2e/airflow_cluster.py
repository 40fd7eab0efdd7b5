"""A real Airflow for end-to-end tests: api-server, scheduler, dag-processor and triggerer.

Each component is its own process group (LocalExecutor, SQLite metadata database) in a temporary
``AIRFLOW_HOME``; their output goes to ``<home>/<component>.log``. The test reads the metadata
database directly (read-only queries), which is quicker than a CLI call per check.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet

from airflow_provider_voucherify.emulator.testing import free_port

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
T = TypeVar("T")

# Airflow 3.1-3.3 can fail a task that resumed from deferral: when the resumed try is already
# running before the scheduler reads the executor's "success" for the try's exit at defer(), it
# takes that stale event for a kill ("state mismatch" in the audit log) and fails the try, which is
# then retried. Upstream: https://github.com/apache/airflow/issues/72716 (fix proposed in #72767).
AIRFLOW_RESUME_RACE = "finished with state success"


class AirflowCluster:
    def __init__(self, home: Path, extra_env: dict[str, str]) -> None:
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.db_path = home / "airflow.db"
        self.env = {
            **os.environ,
            **extra_env,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db_path}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            # Connections' passwords encrypted in the metadata DB, as in a real deployment (the
            # database copied from the migrated template comes without an airflow.cfg's key).
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "PYTHONUNBUFFERED": "1",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        # name -> (arguments after ``airflow``, extra environment); subclasses add components.
        self.components: dict[str, tuple[list[str], dict[str, str]]] = {c: ([c], {}) for c in COMPONENTS}

    # ---- set-up and lifecycle
    def migrate(self) -> None:
        """What ``airflow db migrate`` makes of this cluster's new SQLite database: a copy of the test
        environment's database migrated by that command once (``migrated_template`` in
        tests/conftest.py), instead of a minute of migrations per cluster on a busy machine."""
        from tests.conftest import migrated_template

        assert not self.db_path.exists(), f"{self.db_path} exists: migrate() makes a new database"
        shutil.copyfile(migrated_template(), self.db_path)

    def cli(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def start(self) -> AirflowCluster:
        for component in self.components:
            self.start_component(component)
        return self

    def start_component(self, component: str) -> subprocess.Popen[bytes]:
        args, env = self.components[component]
        with (self.home / f"{component}.log").open("ab") as log:
            self.processes[component] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends its children too
            )
        return self.processes[component]

    def kill(self, component: str) -> None:
        """SIGKILL the component and every process it started, as if its machine were lost.

        Its process group is not enough: a task's process may run in a session of its own.
        """
        import psutil

        process = self.processes.pop(component)
        tree = [psutil.Process(process.pid)]
        tree += tree[0].children(recursive=True)
        os.killpg(process.pid, signal.SIGKILL)
        for member in tree:
            with contextlib.suppress(psutil.NoSuchProcess):  # ended with its group
                member.kill()
        process.wait(30)
        psutil.wait_procs(tree, timeout=30)

    def check_alive(self) -> None:
        for component, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"airflow {component} exited with {process.returncode}:\n{self.log_tail(component)}"
                )

    def stop(self, grace: float = 5) -> None:
        """End every component: SIGTERM, then SIGKILL to the process group of any still running after
        ``grace`` seconds. Only a test's teardown stops a cluster, so nothing waits on a graceful end:
        a task the scheduler queued just before would keep it 17 s retrying the stopped api-server."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        self.processes.clear()

    def log_tail(self, component: str, lines: int = 60) -> str:
        path = self.home / f"{component}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def task_logs(self, task_id: str, attempt: int, lines: int = 80) -> str:
        """The tail of every run's log of ``task_id``'s try ``attempt`` (to say why it was retried)."""
        found = sorted((self.home / "logs").glob(f"**/task_id={task_id}/**/attempt={attempt}.log"))
        found += sorted((self.home / "logs").glob(f"**/task_id={task_id}/attempt={attempt}.log"))
        tails = [
            f"==== {path.relative_to(self.home)} ====\n"
            + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            for path in dict.fromkeys(found)
        ]
        return "\n\n".join(tails) or f"(no log of {task_id} attempt {attempt})"

    def retries_not_from_the_resume_race(self, dag_id: str, task_id: str) -> list[tuple[str, int]]:
        """``(run_id, try)`` of every try of ``task_id`` that was retried for another reason than
        Airflow's stale defer-exit event (see ``AIRFLOW_RESUME_RACE``): ``[]`` when every retry was
        that race. A retry our code caused (a failed trigger, an exception) is listed."""
        p = self.placeholder
        finals = self.query(
            f"SELECT run_id, try_number FROM task_instance WHERE dag_id = {p} AND task_id = {p}",
            dag_id,
            task_id,
        )
        raced = {
            (run_id, number)
            for run_id, number, extra in self.query(
                f"SELECT run_id, try_number, extra FROM log WHERE dag_id = {p} AND task_id = {p}"
                " AND event = 'state mismatch'",
                dag_id,
                task_id,
            )
            if AIRFLOW_RESUME_RACE in (extra or "")
        }
        return [
            (run_id, number)
            for run_id, final in finals
            for number in range(1, final)
            if (run_id, number) not in raced
        ]

    def why_retried(self, task_id: str) -> str:
        """What Airflow recorded about ``task_id``'s tries: its audit log events, every try's log tail,
        and the scheduler's and triggerer's lines that name the task (to tell our failure from a race)."""
        events = self.query(
            f"SELECT dttm, run_id, try_number, event, extra FROM log WHERE task_id = {self.placeholder}"
            " ORDER BY dttm",
            task_id,
        )
        parts = ["==== audit log ====", *(" | ".join(str(v) for v in event) for event in events)]
        for component in ("scheduler", "triggerer"):
            path = self.home / f"{component}.log"
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            naming = [line for line in lines if task_id in line]
            parts += [f"==== {component} lines naming {task_id} ====", *naming[-40:]]
        parts += [self.task_logs(task_id, attempt) for attempt in (1, 2)]
        return "\n".join(parts)

    def logs(self) -> str:
        return "\n\n".join(f"==== {c} ====\n{self.log_tail(c)}" for c in self.components)

    # ---- reading the metadata database
    placeholder = "?"  # the database driver's parameter marker (sqlite3)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if not self.db_path.exists():
            return []
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10) as conn:
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError:  # tables not there yet, or a writer holds the lock
                return []

    def wait_for(self, what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.2) -> T:
        """Poll ``check`` until it returns something truthy; fail with every component's log tail."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"not within {timeout} s: {what}\n{self.logs()}")
            time.sleep(interval)  # poll interval
