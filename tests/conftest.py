"""Test-wide set-up: an isolated Airflow home per environment and xdist worker, a metadata database
migrated once per environment, and the tiers every test is marked with."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import sqlite3
import subprocess
import sys
from importlib.metadata import distributions, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = Path(__file__).resolve().parent / "spec"

# Before anything imports airflow: never touch the user's own ~/airflow. One directory per virtual
# environment (`make test` runs the suites of several at once), and in it one Airflow home and
# SQLite database per pytest-xdist worker (`main` without xdist), so workers never share a file.
ENV_DIR = ROOT / ".airflow-test" / f"{version('apache-airflow')}-{Path(sys.prefix).name}"
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_AIRFLOW_HOME = ENV_DIR / WORKER
_AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
_DB_PATH = _AIRFLOW_HOME / "airflow.db"
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_DB_PATH}"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
# The leak guard greps every worker's home at the end of the session (see tests/leak_guard.py).
os.environ["VOUCHERIFY_TEST_AIRFLOW_HOMES"] = str(ENV_DIR)


def _environment_key() -> str:
    """What a migrated database depends on: every installed distribution and its version."""
    names = sorted(f"{d.metadata['Name']}=={d.version}" for d in distributions())
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


def migrated_template() -> Path:
    """A metadata database migrated by ``airflow db migrate``: once per environment (the file is
    kept, named after the installed packages), under a file lock when several workers ask at once."""
    template = ENV_DIR / f"template-{_environment_key()}.db"
    with (ENV_DIR / "template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            partial = template.with_suffix(f".{os.getpid()}.partial")
            partial.unlink(missing_ok=True)
            subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                check=True,
                capture_output=True,
                env={**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{partial}"},
            )
            partial.replace(template)
    return template


def backport_dag_test_fixes() -> None:
    """Two fixes later Airflow releases made to ``dag.test()``, for the test process of the older ones.

    Its in-process Execution API is built once (``_reuse_the_in_process_execution_api``), and a
    rescheduled sensor's first reschedule date arrives as a datetime: on 3.1.0 the in-process client
    handed the task the JSON string (``model_construct``), so a rescheduled try that poked ``False``
    failed with ``TypeError`` in ``BaseSensorOperator.execute`` (fixed by 3.1.8, which validates it).
    Outside ``dag.test()`` the message always went through validation, so users never met it.
    """
    _reuse_the_in_process_execution_api()
    from airflow.sdk.api.client import TaskInstanceOperations

    read = TaskInstanceOperations.get_reschedule_start_date
    if getattr(read, "validated", False):
        return

    def get_reschedule_start_date(self, id, try_number=1):  # type: ignore[no-untyped-def]
        answer = read(self, id, try_number)
        return type(answer).model_validate(answer.model_dump())

    get_reschedule_start_date.validated = True  # type: ignore[attr-defined]
    TaskInstanceOperations.get_reschedule_start_date = get_reschedule_start_date


def _reuse_the_in_process_execution_api() -> None:
    """``dag.test()`` on Airflow 3.1 and 3.2 builds a new in-process Execution API for every task it
    runs: a FastAPI app whose versioned routes (Cadwyn) take 3-4 CPU-seconds to generate, 65% of an
    airflow-tier test's CPU on 3.10 x 3.1.0 (5-8 CPU-s per ``dag.test()`` there, 0.5-0.9 on 3.3).
    Airflow 3.3 builds it once per process (apache/airflow#65235: ``functools.lru_cache`` on
    ``in_process_api_server``, and a task run without a DAG drops the DAG bag a previous run left);
    this gives the test process of the older releases the same fix. A no-op where it is there."""
    from airflow.sdk.execution_time import supervisor

    if hasattr(supervisor.in_process_api_server, "cache_info"):
        return
    supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(supervisor.in_process_api_server)
    api_client = supervisor.InProcessTestSupervisor._api_client

    def _api_client(dag=None):  # type: ignore[no-untyped-def]
        if dag is None:
            from airflow.api_fastapi.common.dagbag import dag_bag_from_app

            supervisor.in_process_api_server().app.dependency_overrides.pop(dag_bag_from_app, None)
        return api_client(dag)

    supervisor.InProcessTestSupervisor._api_client = staticmethod(_api_client)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (for ``dag.test()``): this worker's own, a fresh copy of
    the environment's migrated template, written through SQLite so open connections see it."""
    backport_dag_test_fixes()
    source = sqlite3.connect(migrated_template())
    target = sqlite3.connect(_DB_PATH)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return _AIRFLOW_HOME


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """After the tiers are marked and pytest-randomly has shuffled: the costliest tests first."""
    from tests.tiers import costliest_first

    costliest_first(items)


# The Voucherify emulator fixtures: `voucherify_emulator` (session) and `emulator` (reset per test);
# `postgres_server` (session); the tiers (`pure`, `emulator`, `airflow`, `process`).
pytest_plugins = [
    "airflow_provider_voucherify.emulator.testing",
    "tests.leak_guard",
    "tests.postgres_server",
    "tests.tiers",
]
