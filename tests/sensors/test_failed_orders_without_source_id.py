"""Failed orders reported with ``source_id: null`` (the API's own example does so): counted in the
verdict's message, kept in the summary, never a crash. Emulator fault ``failed_without_source_id``."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from tests.sensors.test_async_action import failure_message, run_dag
from tests.waiting.emulators import bad_order, order, slow_emulator, slow_emulator_server  # noqa: F401


def rejected_import() -> list[str]:
    """One import of a good order and three the API rejects."""
    hook = VoucherifyHook()
    try:
        return [hook.import_orders([order("fine"), *(bad_order(f"bad-{n}") for n in range(3))])]
    finally:
        hook.close()


def test_the_emulator_can_report_failed_orders_without_source_id(
    slow_emulator: EmulatorServer,  # noqa: F811
) -> None:
    slow_emulator.set_faults(failed_without_source_id=2)
    (action_id,) = rejected_import()

    action = wait_for_actions(slow_emulator, [action_id])[action_id]

    failed = action["result"]["failed"]
    assert [entry["source_id"] for entry in failed] == [None, None, "bad-2"]
    assert action["result"]["failed_count"] == 3
    slow_emulator.clear_faults()
    with slow_emulator.client() as client:  # only the answer changes, not what is stored
        stored = client.get(f"/v1/async-actions/{action_id}").json()
    assert [entry["source_id"] for entry in stored["result"]["failed"]] == ["bad-0", "bad-1", "bad-2"]


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_failed_orders_without_source_id_are_counted_in_the_failure_message(
    airflow_db: Any,
    slow_emulator: EmulatorServer,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    deferrable: bool,
) -> None:
    slow_emulator.set_faults(failed_without_source_id=2)

    seen = run_dag(rejected_import, timeout=60, deferrable=deferrable)

    assert seen["state"] == "failed"
    message = failure_message(seen, capsys)
    assert f"2 failed orders without source_id in {seen['ids'][0]}" in message
    assert "source_id=(none): Cannot find product" in message
    assert "source_id=bad-2: Cannot find product" in message


def test_tolerated_failed_orders_without_source_id_are_kept_in_the_summary(
    airflow_db: Any,
    slow_emulator: EmulatorServer,  # noqa: F811
) -> None:
    slow_emulator.set_faults(failed_without_source_id=2)

    seen = run_dag(rejected_import, timeout=60, deferrable=True, max_failed_orders=3)

    assert seen["state"] == "success", seen.get("exception")
    summary = seen["summary"]
    assert (summary["done_count"], summary["failed_count"]) == (1, 3)
    assert [entry["source_id"] for entry in summary["failed_orders"]] == [None, None, "bad-2"]
