"""Provider registration: entry point, connection type and its form as data."""

from __future__ import annotations

from importlib.metadata import entry_points

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
