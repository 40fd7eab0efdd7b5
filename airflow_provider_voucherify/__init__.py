"""Apache Airflow provider for migrating historical orders into Voucherify."""

from __future__ import annotations

from typing import Any

from airflow_provider_voucherify.exceptions import (
    InvalidOrderError,
    InvalidOrdersFileError,
    VoucherifyApiError,
    VoucherifyAuthError,
    VoucherifyError,
    VoucherifyNotApiError,
    VoucherifyRateLimitError,
    VoucherifyTransportError,
    VoucherifyUnsafeRetryError,
)
from airflow_provider_voucherify.hooks._extras import connection_form_fields

__version__ = "0.1.0"

__all__ = [
    "InvalidOrderError",
    "InvalidOrdersFileError",
    "VoucherifyApiError",
    "VoucherifyAuthError",
    "VoucherifyError",
    "VoucherifyNotApiError",
    "VoucherifyRateLimitError",
    "VoucherifyTransportError",
    "VoucherifyUnsafeRetryError",
    "__version__",
    "get_provider_info",
]

# The connection form as data: Airflow 3 renders it from here without importing the hook.
# The port stays visible: Airflow <= 3.3.2's Test button sends `port: 0` for a connection stored
# without one and its API then refuses the test (apache/airflow#73298); with a port stored
# (443 for Voucherify, the emulator's own), Test works. The hook ignores 0 and empty ports.
CONNECTION_FORM: dict[str, Any] = {
    "hidden-fields": ["schema"],
    "relabeling": {
        "host": "Base URL or cluster",
        "port": "Port (optional)",
        "login": "Application ID",
        "password": "Secret Key",
    },
    "placeholders": {
        "host": "api (default), us1.api, as1.api, or https://api.voucherify.io",
        "port": "443 (lets the Test button work on Airflow 3.3.2 and older)",
        "login": "Application ID from Project Settings > Application Keys",
        "password": "Secret Key (X-App-Token)",
        "extra": '{"timeout": 30, "max_retries": 5, "retry_backoff": 1, "max_rate_limit_wait": 60}',
    },
}

# Generated from the model that parses the extras, so the form and the parser cannot drift.
CONNECTION_FIELDS: dict[str, Any] = connection_form_fields()


def get_provider_info() -> dict[str, Any]:
    """Entry point ``apache_airflow_provider``: what Airflow's providers manager reads."""
    return {
        "package-name": "airflow-provider-voucherify",
        "name": "Voucherify",
        "description": "Import historical orders into `Voucherify <https://www.voucherify.io/>`__.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "voucherify",
                "hook-class-name": "airflow_provider_voucherify.hooks.voucherify.VoucherifyHook",
                "hook-name": "Voucherify",
                "ui-field-behaviour": CONNECTION_FORM,
                "conn-fields": CONNECTION_FIELDS,
            }
        ],
        "hooks": [
            {
                "integration-name": "Voucherify",
                "python-modules": ["airflow_provider_voucherify.hooks.voucherify"],
            }
        ],
        "operators": [
            {
                "integration-name": "Voucherify",
                "python-modules": [
                    "airflow_provider_voucherify.operators.import_orders",
                    "airflow_provider_voucherify.operators.reconcile_orders",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Voucherify",
                "python-modules": ["airflow_provider_voucherify.sensors.async_action"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Voucherify",
                "python-modules": [
                    "airflow_provider_voucherify.triggers.async_action",
                    "airflow_provider_voucherify.triggers.export",
                ],
            }
        ],
        # voucherify://<host>/<Application ID>/orders: the dataset ImportOrdersOperator's lineage names.
        "asset-uris": [
            {
                "schemes": ["voucherify"],
                "handler": "airflow_provider_voucherify.assets.sanitize_uri",
                "factory": "airflow_provider_voucherify.assets.create_asset",
                "to_openlineage_converter": "airflow_provider_voucherify.assets.convert_asset_to_openlineage",
            }
        ],
        "integrations": [
            {
                "integration-name": "Voucherify",
                "external-doc-url": "https://docs.voucherify.io/",
                "tags": ["service"],
            }
        ],
    }
