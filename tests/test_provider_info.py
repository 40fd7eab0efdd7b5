"""Provider registration: entry point, connection type and its form as data."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from airflow_provider_voucherify import get_provider_info


def test_entry_point_resolves_to_get_provider_info() -> None:
    (entry,) = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_provider_voucherify")
    ]
    assert entry.load() is get_provider_info


def test_connection_form_is_declared_as_data() -> None:
    (conn,) = get_provider_info()["connection-types"]
    assert conn["connection-type"] == "voucherify"
    assert conn["hook-class-name"] == "airflow_provider_voucherify.hooks.voucherify.VoucherifyHook"
    behaviour = conn["ui-field-behaviour"]
    assert behaviour["relabeling"] == {
        "host": "Base URL or cluster",
        "port": "Port (optional)",
        "login": "Application ID",
        "password": "Secret Key",
    }
    # The port stays visible: a stored port is what lets Airflow <= 3.3.2's Test button work.
    assert set(behaviour["hidden-fields"]) == {"schema"}
    assert {"timeout", "max_retries"} <= set(conn["conn-fields"])


def test_providers_manager_sees_the_connection_type() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-voucherify" in manager.providers
    hook = manager.hooks["voucherify"]
    assert hook is not None
    assert hook.hook_class_name.endswith("VoucherifyHook")
    assert hook.connection_id_attribute_name == "voucherify_conn_id"


def test_the_form_offers_every_extra_the_parser_reads() -> None:
    from airflow_provider_voucherify.hooks._extras import ConnectionExtras

    (conn,) = get_provider_info()["connection-types"]
    fields = conn["conn-fields"]
    assert list(fields) == list(ConnectionExtras.field_names())
    assert {"retry_backoff", "max_rate_limit_wait"} <= set(fields)
    for name, field in fields.items():
        assert field["label"]
        assert field["description"]
        assert field["schema"]["default"] == ConnectionExtras.model_fields[name].default
    assert fields["timeout"]["schema"]["exclusiveMinimum"] == 0
    assert fields["max_retries"]["schema"]["type"] == ["integer", "null"]


def test_settings_are_read_through_the_task_sdk_where_airflow_has_it() -> None:
    # Airflow's own providers read `conf` through common-compat: the Task SDK's from Airflow 3.2.
    package = Path(get_provider_info.__code__.co_filename).parent
    direct = [
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if path.name != "_compat.py"
        and re.search(r"^\s*(from|import) airflow\.configuration\b", path.read_text(), re.M)
    ]
    assert direct == []
    from airflow_provider_voucherify.operators import import_orders
    from airflow_provider_voucherify.sensors import async_action

    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # Airflow 3.1: core's configuration is the only one
        from airflow.configuration import conf
    assert import_orders.conf is conf
    assert async_action.conf is conf


def test_the_sensors_default_timeout_follows_airflows_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor

    monkeypatch.setenv("AIRFLOW__SENSORS__DEFAULT_TIMEOUT", "1234")
    assert AsyncActionSensor(task_id="wait", async_action_ids=["aa_1"]).timeout == 1234
