"""The docs' example of testing a whole DAG file against the emulator (docs/emulator.md) passes
as a project of its own: its conftest.py, its test, and the quickstart DAG in its dags/ folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "dag-tests"


@pytest.mark.e2e
def test_the_documented_dag_test_passes_in_a_project_of_its_own(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    (project / "dags").mkdir()
    shutil.copy(ROOT / "docs" / "examples" / "voucherify_quickstart.py", project / "dags")
    # A user's shell: none of this suite's Airflow settings.
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "1 passed" in output, output[-5000:]
