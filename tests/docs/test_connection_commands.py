"""The connection page's commands and the getting-started page's pool commands run as written, with
the Airflow CLI in a throw-away Airflow home, and do what the pages say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from tests.docs.blocks import ROOT, bash_blocks, block_with

# What the hook made of the connection (never the App Token).
SETTINGS = (
    "from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook; "
    "s = VoucherifyHook().settings; print(s.base_url, s.app_id, s.timeout, s.max_retries)"
)


def json_table(output: str) -> list[dict[str, str]]:
    """The rows an ``airflow ... get -o json`` printed (its one line of JSON among the others)."""
    (line,) = [line for line in output.splitlines() if line.startswith("[{")]
    rows: list[dict[str, str]] = json.loads(line)
    return rows


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Run a snippet in bash as a user's shell: a fresh Airflow home, none of this suite's settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        AIRFLOW_HOME=str(tmp_path_factory.mktemp("docs-shell") / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
    )

    def run(script: str, **extra: str) -> str:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={**env, **extra},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
        return result.stdout

    run("airflow db migrate >/dev/null")
    return run


@pytest.mark.e2e
def test_the_connection_pages_commands(shell, emulator: EmulatorServer) -> None:  # type: ignore[no-untyped-def]
    page = "docs/connection.md"
    # Outside a task, Airflow 3's hooks read connections from the environment only: read the stored
    # one back with the CLI and give the hook exactly that.
    stored = shell(
        block_with(page, "airflow connections add") + "airflow connections get voucherify_default -o json",
        APP_ID="app-from-the-cli",
        SECRET_KEY="secret-from-the-cli",
    )
    (conn,) = json_table(stored)
    as_json = {key: conn[key] for key in ("conn_type", "host", "login", "password")}
    as_json["port"] = int(conn["port"])
    added = shell(f'python -c "{SETTINGS}"', AIRFLOW_CONN_VOUCHERIFY_DEFAULT=json.dumps(as_json))
    # The cluster alias, with the port the page adds for the UI's Test button.
    assert added.splitlines()[-1] == "https://us1.api.voucherify.io app-from-the-cli 30.0 5"

    exported = shell(block_with(page, "export AIRFLOW_CONN_VOUCHERIFY_DEFAULT") + f'python -c "{SETTINGS}"')
    assert exported.splitlines()[-1] == "https://us1.api.voucherify.io ... 30.0 5"

    tested = shell(
        block_with(page, "airflow connections test"), AIRFLOW_CONN_VOUCHERIFY_DEFAULT=emulator.conn_json
    )
    assert "Connection success!" in tested


def test_the_readme_shows_the_connection_pages_commands() -> None:
    readme = bash_blocks("README.md")
    for needle in ("airflow connections add", "export AIRFLOW_CONN_VOUCHERIFY_DEFAULT"):
        assert block_with("docs/connection.md", needle) in readme


@pytest.mark.e2e
def test_the_getting_started_pool_commands(shell) -> None:  # type: ignore[no-untyped-def]
    pool_of_the_example_dag = (
        "import runpy; print(runpy.run_path('dags/voucherify_import_file.py')['import_orders'].pool)"
    )
    output = shell(
        block_with("docs/getting-started.md", "airflow pools set")
        + "airflow pools get voucherify_imports -o json\n"
        + f'python -c "{pool_of_the_example_dag}"'
    )
    (pool,) = json_table(output)
    dag_pool = output.strip().splitlines()[-1]
    assert (pool["pool"], int(pool["slots"])) == ("voucherify_imports", 1)
    assert dag_pool == "voucherify_imports"
