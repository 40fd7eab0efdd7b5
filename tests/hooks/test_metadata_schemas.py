"""VoucherifyHook.get_metadata_schema against the emulator: a schema, or None when none is defined."""

from __future__ import annotations

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.exceptions import VoucherifyAuthError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from tests.airflow_helpers import point_connection


def test_a_defined_schema_is_returned_and_a_missing_one_is_none(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_connection(monkeypatch, emulator)
    properties = {"region": {"type": "string", "array": False, "optional": False}}
    emulator.set_metadata_schemas({"order": {"properties": properties, "allow_defined_only": True}})
    hook = VoucherifyHook()
    try:
        schema = hook.get_metadata_schema("order")
        assert schema is not None
        assert schema["related_object"] == "order"
        assert schema["properties"] == properties
        assert schema["allow_defined_only"] is True
        assert hook.get_metadata_schema("order_item") is None
    finally:
        hook.close()
    assert emulator.stats()["requests"]["GET /v1/metadata-schemas/{resource}"] == {"200": 1, "404": 1}


def test_other_errors_are_raised(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    point_connection(monkeypatch, emulator, password="wrong")
    hook = VoucherifyHook()
    try:
        with pytest.raises(VoucherifyAuthError):
            hook.get_metadata_schema("order")
    finally:
        hook.close()
