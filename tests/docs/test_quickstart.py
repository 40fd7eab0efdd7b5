"""The getting-started guide runs as written: its script, its example DAG and its orders."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"


def section(path: Path, name: str) -> str:
    """The lines between ``--8<-- [start:name]`` and ``--8<-- [end:name]``, as the docs include them."""
    match = re.search(rf"--8<-- \[start:{name}\]\n(.*?)\n[^\n]*--8<-- \[end:{name}\]", path.read_text(), re.S)
    assert match, f"no section {name!r} in {path}"
    return match.group(1)


@pytest.mark.e2e
def test_the_getting_started_script_imports_the_example_orders(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PORT=str(free_port()),
        WORK=str(tmp_path / "work"),
    )
    result = subprocess.run(
        ["bash", str(EXAMPLES / "quickstart.sh")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "Connection success!" in output
    assert "state=success" in output
    # The log lines the page quotes.
    page = (ROOT / "docs" / "getting-started.md").read_text()
    for line in ("batch 1: 2 orders sent", "1 async actions DONE: 2 orders imported, 0 failed"):
        assert f"`{line}`" in page
        assert line in output
    stored = json.loads(result.stdout.strip().splitlines()[-1])
    assert stored["source_id"] == "ORD-2024-0001"
    assert stored["status"] == "PAID"
    assert stored["metadata"] == {"original_created_at": "2024-01-15T10:30:00.000Z"}


def test_the_example_orders_are_valid_and_carry_what_the_api_needs() -> None:
    from airflow_provider_voucherify.models import Order

    lines = (EXAMPLES / "orders.jsonl").read_text().splitlines()
    orders = [Order.model_validate(json.loads(line)) for line in lines]
    assert [order.source_id for order in orders] == ["ORD-2024-0001", "ORD-2024-0002"]
    for order in orders:
        assert order.customer is not None
        assert order.customer.source_id
        for item in order.items or []:
            # An item names its product or SKU by source_id together with related_object.
            assert item.source_id
            assert item.related_object in ("product", "sku")


def test_the_readme_shows_the_quickstart_dag_as_tested() -> None:
    code = section(EXAMPLES / "voucherify_quickstart.py", "quickstart")
    assert f"```python\n{code}\n```" in (ROOT / "README.md").read_text()


def test_nothing_cites_the_design_page_outside_the_repository() -> None:
    name = "DESIGN" + ".md"
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    citing = [
        path
        for path in files
        if path and (ROOT / path).is_file() and name in (ROOT / path).read_text(errors="replace")
    ]
    assert citing == []
