"""ImportOrdersOperator's lineage with the real OpenLineage provider and client classes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.openlineage.facet import (
    Dataset,
    OutputDataset,
    OutputStatisticsOutputDatasetFacet,
)
from airflow.providers.openlineage.extractors import OperatorLineage
from airflow.providers.openlineage.utils.utils import translate_airflow_asset
from airflow.sdk import Asset
from openlineage.client.serde import Serde

from airflow_provider_voucherify.assets import create_asset, orders_dataset
from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from tests.operators.conftest import order_dict, write_jsonl


class FakeTI:
    def xcom_push(self, key: str, value: Any) -> None:
        pass


@pytest.fixture
def server(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", emulator.conn_json)
    return emulator


def run(operator: ImportOrdersOperator) -> OperatorLineage:
    operator.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    lineage = operator.get_openlineage_facets_on_complete(None)
    assert isinstance(lineage, OperatorLineage)
    return lineage


def test_the_input_is_named_as_the_object_storage_providers_name_it() -> None:
    lineage = ImportOrdersOperator(
        task_id="import", orders="s3://dwh/exports/orders.jsonl.gz"
    ).get_openlineage_facets_on_complete(None)
    # The Amazon provider names an S3 object (namespace "s3://bucket", name "key"), no leading slash.
    assert lineage.inputs == [Dataset(namespace="s3://dwh", name="exports/orders.jsonl.gz")]


def test_after_a_successful_wait_the_output_counts_the_imported_orders(
    server: EmulatorServer, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "orders.jsonl", [order_dict(n) for n in range(1, 8)])

    lineage = run(
        ImportOrdersOperator(
            task_id="import", orders=str(path), wait_for_completion=True, deferrable=False, poll_interval=0.2
        )
    )

    assert lineage.inputs == [Dataset(namespace="file", name=str(path))]
    assert lineage.outputs == [
        OutputDataset(
            namespace=f"voucherify://{server.url.removeprefix('http://')}",
            name=f"{server.app_id}/orders",
            outputFacets={"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=7)},
        )
    ]
    # As an OpenLineage event carries it.
    event = json.loads(Serde.to_json(lineage.outputs[0]))
    assert event["outputFacets"]["outputStatistics"]["rowCount"] == 7


def test_a_submitted_import_claims_no_output(server: EmulatorServer, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "orders.jsonl", [order_dict(n) for n in range(1, 4)])

    lineage = run(ImportOrdersOperator(task_id="import", orders=str(path)))

    assert lineage.inputs == [Dataset(namespace="file", name=str(path))]
    assert lineage.outputs == []


def test_the_asset_of_the_project_is_the_dataset_the_import_writes(
    server: EmulatorServer, tmp_path: Path
) -> None:
    # What the operator's docstring recommends, with the emulator's host and Application ID.
    asset = Asset(f"voucherify://{server.url.removeprefix('http://')}/{server.app_id}/orders")
    path = write_jsonl(tmp_path / "orders.jsonl", [order_dict(1)])

    lineage = run(
        ImportOrdersOperator(
            task_id="import", orders=str(path), wait_for_completion=True, deferrable=False, poll_interval=0.2
        )
    )

    (output,) = lineage.outputs
    assert translate_airflow_asset(asset, None) == Dataset(namespace=output.namespace, name=output.name)


@pytest.mark.parametrize(
    ("uri", "namespace", "name"),
    [
        ("voucherify://api.voucherify.io/a1b2/orders", "voucherify://api.voucherify.io", "a1b2/orders"),
        ("voucherify://API.voucherify.io:443/a1b2/orders/", "voucherify://api.voucherify.io", "a1b2/orders"),
        ("voucherify://127.0.0.1:8000/a1b2/orders", "voucherify://127.0.0.1:8000", "a1b2/orders"),
        # Without the project: a name of its own, not the project's orders.
        ("voucherify://api.voucherify.io/orders", "voucherify://api.voucherify.io", "orders"),
    ],
)
def test_voucherify_assets_translate_to_openlineage_datasets(uri: str, namespace: str, name: str) -> None:
    assert translate_airflow_asset(Asset(uri), None) == Dataset(namespace=namespace, name=name)


def test_the_asset_of_a_connection_names_its_project() -> None:
    assert orders_dataset("https://api.voucherify.io:443", "a1b2") == (
        "voucherify://api.voucherify.io",
        "a1b2/orders",
    )
    assert create_asset(host="us1.api.voucherify.io", app_id="a1b2").uri == (
        "voucherify://us1.api.voucherify.io/a1b2/orders"
    )
