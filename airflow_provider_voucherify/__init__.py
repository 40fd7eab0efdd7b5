"""Apache Airflow provider for migrating historical orders into Voucherify."""

from __future__ import annotations

from typing import Any

from airflow_provider_voucherify.exceptions import (
    InvalidOrderError,
    InvalidOrdersFileError,
    VoucherifyApiError,
    VoucherifyAuthError,
    VoucherifyError,
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
    "VoucherifyTransportError",
    "VoucherifyUnsafeRetryError",
    "__version__",
    "get_provider_info",
]

# The connection form as data: Airflow 3 renders it from here without importing the hook.
CONNECTION_FORM: dict[str, Any] = {
    "hidden-fields": ["port", "schema"],
    "relabeling": {"host": "Base URL or cluster", "login": "Application ID", "password": "Secret Key"},
    "placeholders": {
        "host": "api (default), us1.api, as1.api, or https://api.voucherify.io",
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
                "python-modules": ["airflow_provider_voucherify.triggers.async_action"],
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
