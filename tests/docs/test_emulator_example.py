"""The docs' example of a user's own tests against the emulator (docs/emulator.md includes it)."""

from __future__ import annotations

# --8<-- [start:user-tests]
import json

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.exceptions import VoucherifyApiError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook

ORDER = {
    "source_id": "ORD-1",
    "status": "PAID",
    "amount": 1000,
    "items": [{"source_id": "prod-1", "related_object": "product", "quantity": 1, "price": 1000}],
}


@pytest.fixture
def voucherify(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """The emulator (wiped before each test) as the connection ``voucherify_default``."""
    monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", emulator.conn_json)
    return emulator


def test_orders_are_imported(voucherify: EmulatorServer) -> None:
    hook = VoucherifyHook()
    action_id = hook.import_orders([ORDER])
    actions = wait_for_actions(voucherify, [action_id])
    assert actions[action_id]["status"] == "DONE"
    assert voucherify.stats()["orders_stored"] == 1
    assert hook.get_order("ORD-1")["amount"] == 1000


def test_server_errors_are_retried(voucherify: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = json.loads(voucherify.conn_json)
    conn["extra"] = {"max_retries": 5, "retry_backoff": 0.01}  # retry quickly in tests
    monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", json.dumps(conn))
    voucherify.set_faults(error_rate=1.0, paths=["/v1/orders/import"], seed=7)
    with pytest.raises(VoucherifyApiError) as failed:  # after 5 retries
        VoucherifyHook().import_orders([ORDER])
    assert failed.value.status_code >= 500
    voucherify.clear_faults()
    assert VoucherifyHook().import_orders([ORDER]).startswith("aa_")


# --8<-- [end:user-tests]
