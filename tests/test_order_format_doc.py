"""The example line of docs/order-format.md (and the README) is one valid order, as documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.models import parse_order

ROOT = Path(__file__).resolve().parent.parent


def example_line(path: Path) -> str:
    (block,) = re.findall(r"```json\n(.*?)\n```", path.read_text(encoding="utf-8"), re.S)
    return str(block)


def test_the_documented_line_is_one_valid_order_accepted_by_the_emulator(emulator: EmulatorServer) -> None:
    line = example_line(ROOT / "docs" / "order-format.md")
    assert "\n" not in line
    order = parse_order(line, require_source_id=True).move_created_at()
    assert order.metadata == {"channel": "web", "original_created_at": "2024-01-15T10:00:00.000Z"}
    with emulator.client() as client:
        response = client.post("/v1/orders/import", content=b"[" + line.encode() + b"]")
    assert response.status_code == 200, response.text


def test_the_readme_shows_the_same_line() -> None:
    readme = example_line(ROOT / "README.md")
    assert json.loads(readme) == json.loads(example_line(ROOT / "docs" / "order-format.md"))
