"""A 413 from the import: split the batch, learn the limit, send the rest under it (real HTTP)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.exceptions import VoucherifyApiError
from airflow_provider_voucherify.importing.batching import Batch, batches
from airflow_provider_voucherify.importing.body_limit import (
    BodyLimit,
    OrderTooLargeError,
    _halves,
    send_within_limit,
)
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from tests.airflow_helpers import point_connection
from tests.operators.conftest import order_dict, write_jsonl

LIMIT = 6000


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """An emulator whose import takes bodies of at most ``LIMIT`` bytes, like a 1 MiB framework default."""
    with EmulatorServer(
        tmp_path_factory.mktemp("small-body"), orders_per_second=0, max_body_bytes=LIMIT
    ) as server:
        yield server


class FakeTI:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def test_halves_are_valid_json_arrays_of_the_orders_in_order() -> None:
    orders = [(json.dumps({"n": n, "pad": "x" * n}).encode(), True) for n in range(7)]
    (batch,) = batches(orders)
    first, second = _halves(batch)
    assert [o["n"] for o in json.loads(first.body)] == [0, 1, 2]
    assert [o["n"] for o in json.loads(second.body)] == [3, 4, 5, 6]
    for half in (first, second):  # the offsets still point at each order's end
        assert [half.body[end : end + 1] for end in half.ends] == [b","] * (half.count - 1) + [b"]"]
        assert _halves(half)  # and can be split again


def test_the_limit_is_read_from_the_message_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    limit, log = BodyLimit(), logging.getLogger("test")
    caplog.set_level(logging.WARNING)
    too_large = "Payload content length greater than maximum allowed: 1048576"
    limit.learn(VoucherifyApiError("POST /v1/orders/import", 413, message=too_large), 2_000_000, log)
    limit.learn(VoucherifyApiError("POST /v1/orders/import", 413, message=too_large), 1_500_000, log)
    assert limit.max_bytes == 1_048_576
    assert len(caplog.records) == 1
    limit.learn(VoucherifyApiError("POST /v1/orders/import", 413), 900_000, log)  # no number: below it
    assert limit.max_bytes == 899_999


def test_an_order_larger_than_the_limit_is_named(
    small_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook

    point_connection(monkeypatch, small_server, max_retries=0)
    body = json.dumps([order_dict(1, metadata={"note": "x" * LIMIT})]).encode()
    batch = Batch(1, body, 1, True, (len(body) - 1,))
    hook = VoucherifyHook()

    def send(body: bytes, count: int, resend_safe: bool) -> str:
        return hook.import_serialized(body, count=count, resend_safe=resend_safe)

    with pytest.raises(OrderTooLargeError, match=f"body limit \\({LIMIT} bytes"):
        send_within_limit(send, batch, BodyLimit(), logging.getLogger("test"))


def test_the_operator_splits_learns_and_imports_everything(
    small_server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    small_server.reset()
    point_connection(monkeypatch, small_server, max_retries=0)
    count = 120  # about 60 KB of orders: ten times the limit
    path = write_jsonl(tmp_path / "orders.jsonl", [order_dict(n) for n in range(1, count + 1)])
    caplog.set_level(logging.WARNING)
    ti = FakeTI()
    ids = ImportOrdersOperator(task_id="import_orders", orders=str(path)).execute({"ti": ti})  # type: ignore[arg-type]
    actions = wait_for_actions(small_server, ids)
    assert {action["status"] for action in actions.values()} == {"DONE"}
    assert sum(action["result"]["done_count"] for action in actions.values()) == count
    assert ti.xcom["import_summary"]["sent"] == count
    stats = small_server.stats()
    assert stats["orders_received"] == count  # every order once: nothing lost, nothing twice
    logged = caplog.text + capfd.readouterr().out
    assert logged.count("the import's body limit is") == 1
    assert f"the import's body limit is {LIMIT} bytes" in logged
