"""Fault matrix, the project's metadata schema would refuse the orders: no bulk call is spent.

Without the preflight each of these cases spends one bulk call per batch (a Sandbox allows one an
hour) on imports that end ``DONE`` with every order failed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.exceptions import InvalidOrderError, MetadataSchemaError
from airflow_provider_voucherify.operators._task import AirflowFailException
from tests.airflow_helpers import point_connection
from tests.faults.matrix import Case, import_operator, run_task

IMPORT = "POST /v1/orders/import"
SCHEMAS = "GET /v1/metadata-schemas/{resource}"


def test_a_schema_that_would_refuse_every_order_spends_no_bulk_call(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, orders_path: Path
) -> None:
    case = Case("metadata schema would refuse every order")
    point_connection(monkeypatch, emulator)
    emulator.set_metadata_schemas({"order": {"allow_defined_only": True, "properties": {}}})

    with pytest.raises(AirflowFailException, match="does not define 'original_created_at'") as failure:
        run_task(import_operator(orders_path))
    assert isinstance(failure.value.__cause__, MetadataSchemaError)  # not retried

    requests = emulator.stats()["requests"]
    assert IMPORT not in requests
    assert requests[SCHEMAS] == {"200": 1}
    case.outcome = "failed before sending, names the key"
    case.note = "0 bulk calls; 1 GET of the order schema"
    case.record(emulator, set(), batches=0)


def test_a_required_key_no_order_has_spends_no_bulk_call(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, orders_path: Path
) -> None:
    case = Case("metadata schema requires a key no order has")
    point_connection(monkeypatch, emulator)
    required = {"store_id": {"type": "string", "array": False, "optional": False}}
    emulator.set_metadata_schemas({"order": {"properties": required}})

    with pytest.raises(
        AirflowFailException, match=r"\.metadata\.store_id: required by the order metadata schema"
    ) as failure:
        run_task(import_operator(orders_path, on_invalid="skip", max_invalid=100))
    assert isinstance(failure.value.__cause__, InvalidOrderError)  # not retried

    assert IMPORT not in emulator.stats()["requests"]
    case.outcome = "failed: max_invalid passed"
    case.note = "0 bulk calls; the first 101 orders are rejects"
    case.record(emulator, set(), batches=0)
