"""Test-wide set-up: an isolated Airflow home per environment, migrated once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = Path(__file__).resolve().parent / "spec"

# Before anything imports airflow: never touch the user's own ~/airflow. One home (and SQLite
# database) per virtual environment, since `make test` runs the suites of several at once.
_AIRFLOW_HOME = ROOT / ".airflow-test" / f"{version('apache-airflow')}-{Path(sys.prefix).name}"
_AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (for ``dag.test()``)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return _AIRFLOW_HOME


# The Voucherify emulator fixtures: `voucherify_emulator` (session) and `emulator` (reset per test);
# `postgres_server` (session).
pytest_plugins = ["airflow_provider_voucherify.emulator.testing", "tests.leak_guard", "tests.postgres_server"]
