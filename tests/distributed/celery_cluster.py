"""A real distributed Airflow on this machine: CeleryExecutor, PostgreSQL metadata, Redis broker.

On top of :class:`~tests.e2e.airflow_cluster.AirflowCluster` (api-server, scheduler,
dag-processor, triggerer), one ``airflow celery worker`` per name in ``workers``, each with its
own Celery hostname, log folder and task host name (``task_instance.hostname``), as if each ran
on a machine of its own. The test reads the metadata database directly with psycopg2.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ROOT
from tests.distributed.worker_hostname import VARIABLE as HOSTNAME_VARIABLE
from tests.e2e.airflow_cluster import AirflowCluster
from tests.postgres_server import PostgresServer

# airflow_local_settings.py (the test's cluster policy) is found on every component's path.
SETTINGS_DIR = Path(__file__).resolve().parent / "settings"


class CeleryAirflowCluster(AirflowCluster):
    def __init__(
        self,
        home: Path,
        extra_env: dict[str, str],
        *,
        postgres: PostgresServer,
        database: str,
        broker_url: str,
        workers: Sequence[str] = ("worker-a", "worker-b"),
        concurrency: int = 2,
    ) -> None:
        super().__init__(home, extra_env)
        self.postgres, self.database = postgres, database
        self.workers = tuple(workers)
        self.env.update(
            {
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
                    f"postgresql+psycopg2://postgres@{postgres.host}:{postgres.port}/{database}"
                ),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.distributed.worker_hostname.hostname",
                "AIRFLOW__CELERY__BROKER_URL": broker_url,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
                # One task at a time per free slot: queued tasks go to whichever worker is free.
                "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
                "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
                # A lost worker's task is failed (and retried) after 20 s without heartbeats,
                # not the default 300 s.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
                "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
                # A busy machine's api-server can take longer than the default 5 s to answer; a
                # timed-out call from a worker fails the try.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(SETTINGS_DIR), str(ROOT), os.environ.get("PYTHONPATH")])
                ),
            }
        )
        for name in self.workers:
            args = ["celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", str(concurrency)]
            # Both workers share this machine: no log server (one port each would be needed).
            args.append("--skip-serve-logs")
            self.components[name] = (
                args,
                {HOSTNAME_VARIABLE: name, "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs" / name)},
            )

    def start(self) -> CeleryAirflowCluster:
        """The api-server first: a worker whose task cannot reach the Execution API fails the try."""
        self.start_component("api-server")
        self.wait_for("the api-server to answer", self.api_server_healthy, timeout=300, interval=0.5)
        for component in self.components:
            if component != "api-server":
                self.start_component(component)
        return self

    def api_server_healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=5).is_success
        except httpx.TransportError:
            return False

    placeholder = "%s"  # psycopg2

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """A read-only query (``%s`` placeholders); ``[]`` while the tables do not exist yet."""
        import psycopg2

        try:
            conn = self.postgres.connect(self.database)
        except psycopg2.Error:
            return []
        try:
            conn.set_session(readonly=True, autocommit=True)
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        except psycopg2.errors.UndefinedTable:
            return []
        finally:
            conn.close()
