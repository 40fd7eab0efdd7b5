"""Shared test data for the operator: orders carrying personal data, written as JSON Lines."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer


@pytest.fixture
def server(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """The emulator as ``voucherify_default``, with no retries: a fault fails at once, and the
    hook's own retries are not what these tests are about. A module may define its own."""
    conn = json.loads(emulator.conn_json)
    conn["extra"] = {"max_retries": 0, "retry_backoff": 0.01, "timeout": 30}
    monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", json.dumps(conn))
    return emulator


# Personal data every generated order carries; none of it may reach a log, an error or an XCom.
PERSONAL = ("Jane Q. Customer", "jane.customer@example.com", "+48 600 700 800", "12 Secret Street")


def order_dict(number: int, **overrides: Any) -> dict[str, Any]:
    """A valid order with a customer's personal data and a historical creation date."""
    order: dict[str, Any] = {
        "source_id": f"ord-{number:07d}",
        "status": "PAID",
        "amount": 2500,
        "items": [{"source_id": "sku-1", "related_object": "sku", "quantity": 1, "price": 2500}],
        "customer": {
            "source_id": f"cust-{number % 1000}",
            "name": PERSONAL[0],
            "email": PERSONAL[1],
            "phone": PERSONAL[2],
            "address": {"line_1": PERSONAL[3], "city": "Warsaw"},
        },
        "created_at": "2021-03-04T05:06:07Z",
    }
    order.update(overrides)
    return order


def write_jsonl(path: Path, lines: Iterable[dict[str, Any] | str], *, gz: bool = False) -> Path:
    """Write records (dicts as JSON, strings verbatim) one per line, gzip-compressed if ``gz``."""
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def assert_no_personal_data(*texts: str) -> None:
    for text in texts:
        for value in PERSONAL:
            assert value not in text, f"personal data {value!r} leaked"


@pytest.fixture
def memory_storage() -> str:
    """A non-local object store (fsspec's in-memory one) under the scheme ``memory://``."""
    import fsspec
    from airflow.sdk.io import attach

    attach(protocol="memory", fs=fsspec.filesystem("memory"))
    return "memory://bucket"


@pytest.fixture
def orders_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "orders.jsonl", (order_dict(n) for n in range(1, 11)))
