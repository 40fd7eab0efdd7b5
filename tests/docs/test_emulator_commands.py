"""The pages' emulator commands run as written: each block that starts the emulator (in the
foreground, as the page says) and the block after it, run from another shell, with only the port
and the database file changed to the test's own."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from airflow_provider_voucherify.emulator.testing import free_port
from tests.docs.blocks import bash_blocks

START = "python -m airflow_provider_voucherify.emulator "


def emulator_and_next_block(page: str) -> tuple[str, str]:
    blocks = bash_blocks(page)
    (index,) = [i for i, block in enumerate(blocks) if START in block and "--port 8000" in block]
    return blocks[index], blocks[index + 1]


def run_pair(page: str, tmp_path: Path, after: str = "") -> str:
    """Start the page's emulator block, run the block after it (then ``after``, in the same shell);
    returns their output."""
    start, then = emulator_and_next_block(page)
    port = str(free_port())
    own = {"8000": port, "/tmp/voucherify.db": str(tmp_path / "voucherify.db")}
    start, then = (re.sub("|".join(map(re.escape, own)), lambda m: own[m.group(0)], b) for b in (start, then))
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW_CONN")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    emulator = subprocess.Popen(["bash", "-c", start], env=env, cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_emulator/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert emulator.poll() is None, f"the emulator command of {page} exited"
            assert time.monotonic() < deadline, f"the emulator of {page} did not answer"
            time.sleep(0.05)
        result = subprocess.run(
            ["bash", "-c", f"{then}\n{after}"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout
    finally:
        os.killpg(emulator.pid, signal.SIGTERM)
        emulator.wait(timeout=30)


@pytest.mark.parametrize("page", ["docs/emulator.md", "README.md"])
def test_the_emulator_by_hand_and_its_connection(page: str, tmp_path: Path) -> None:
    # Then the connection the page exported, from the same shell: one authenticated call.
    check = (
        "from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook; "
        "print(*VoucherifyHook().test_connection())"
    )
    stats_line, connection_test = run_pair(page, tmp_path, f"echo; python -c '{check}'").splitlines()
    assert json.loads(stats_line)["total_requests"] == 0
    assert connection_test.startswith("True Connected to http://127.0.0.1:"), connection_test


def test_the_plans_page_emulator_clock(tmp_path: Path) -> None:
    clock = json.loads(run_pair("docs/plans-and-limits.md", tmp_path))
    assert clock["time_scale"] == 30
