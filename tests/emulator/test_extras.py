"""Without the ``emulator`` extra, the command line and the fixtures say what to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

HINT = "pip install 'airflow-provider-voucherify[{extra}]'"


def run_without(module: str, code: str) -> subprocess.CompletedProcess[str]:
    # A None entry in sys.modules makes `import module` fail as if it were not installed.
    script = f"import sys; sys.modules[{module!r}] = None\n{code}"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("module", ["uvicorn", "fastapi"])
def test_the_command_line_names_the_extra_when_a_dependency_is_missing(module: str) -> None:
    result = run_without(module, "import runpy; runpy.run_module('airflow_provider_voucherify.emulator')")
    assert result.returncode == 1
    assert HINT.format(extra="emulator") in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("module", ["pytest", "uvicorn"])
def test_the_fixtures_name_the_testing_extra(module: str) -> None:
    result = run_without(module, "import airflow_provider_voucherify.emulator.testing")
    assert result.returncode == 1
    assert HINT.format(extra="testing") in result.stderr
    assert f"{module!r}" in result.stderr


def test_the_command_line_runs_with_the_extra() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_voucherify.emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "--orders-per-second" in result.stdout
