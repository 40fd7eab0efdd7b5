"""The example line of docs/order-format.md (and the README) is one valid order, as documented,
which Voucherify stores as it is in an empty project."""

from __future__ import annotations

import json
import re
from pathlib import Path

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.models import parse_order

ROOT = Path(__file__).resolve().parent.parent


def example_line(path: Path) -> str:
    (block,) = re.findall(r"```json\n(.*?)\n```", path.read_text(encoding="utf-8"), re.S)
    return str(block)


def test_the_documented_line_is_one_valid_order_the_emulator_stores(emulator: EmulatorServer) -> None:
    line = example_line(ROOT / "docs" / "order-format.md")
    assert "\n" not in line
    order = parse_order(line, require_source_id=True).move_created_at()
    assert order.metadata == {"channel": "web", "original_created_at": "2024-01-15T10:00:00.000Z"}
    with emulator.client() as client:
        response = client.post("/v1/orders/import", content=b"[" + line.encode() + b"]")
    assert response.status_code == 200, response.text
    # Accepted is not enough: an item naming an unknown product fails in Voucherify afterwards.
    action_id = response.json()["async_action_id"]
    action = wait_for_actions(emulator, [action_id])[action_id]
    assert action["status"] == "DONE"
    assert action["result"]["done_count"] == 1, action["result"]
    with emulator.client() as client:
        stored = client.get("/v1/orders/ORD-2024-000123").json()
    assert stored["amount"] == 4497
    assert [item["source_id"] for item in stored["items"]] == ["SKU-BOTTLE-500", "PROD-GIFT-WRAP"]


def test_the_readme_shows_the_same_line() -> None:
    readme = example_line(ROOT / "README.md")
    assert json.loads(readme) == json.loads(example_line(ROOT / "docs" / "order-format.md"))
