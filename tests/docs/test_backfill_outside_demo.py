"""The README's recipe for the example backfill outside `make demo`, run as written (but its `pip
install`): the warehouse connection it sets resolves to a SQL hook, and `airflow dags test` imports
January's orders into the emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from tests.docs.blocks import ROOT, block_with


def test_the_readmes_backfill_recipe_runs_a_month(emulator: EmulatorServer, tmp_path: Path) -> None:
    recipe = block_with("README.md", "AIRFLOW_CONN_WAREHOUSE")
    script = "\n".join(line for line in recipe.splitlines() if not line.startswith("pip install"))
    # A checkout of its own: the DAGs and scripts of this one, the warehouse written beside them.
    for name in ("dags", "scripts"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "VOUCHERIFY"))
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_VOUCHERIFY_DEFAULT=emulator.conn_json,
        VOUCHERIFY_STAGING_BASE=(tmp_path / "staging").as_uri(),
        VOUCHERIFY_POLL_INTERVAL="1",
    )
    check = (
        "python -c 'from airflow.sdk import BaseHook; print(type(BaseHook.get_hook(\"warehouse\")).__name__)'"
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", f"airflow db migrate >/dev/null\n{script}\n{check}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    assert "Unknown hook type" not in output
    assert done.stdout.strip().splitlines()[-1] == "SqliteHook"
    assert "state=success" in output or "DagRunState.SUCCESS" in output, output[-3000:]
    imports = emulator.stats()["requests"]["POST /v1/orders/import"]
    assert imports == {"200": 1}
