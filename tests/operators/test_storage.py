"""Where the operators' files are: URIs made into ObjectStoragePath for the engines, and lineage names."""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import ObjectStoragePath

from airflow_provider_voucherify.importing.source import storage_path
from airflow_provider_voucherify.operators._task import lineage_input, resolved
from tests.operators.conftest import order_dict


def test_uris_become_object_storage_paths_and_local_files_stay_local(tmp_path: Path) -> None:
    assert storage_path(resolved(f"file://{tmp_path}/a.jsonl")) == tmp_path / "a.jsonl"
    assert isinstance(resolved("s3://bucket/key.jsonl"), ObjectStoragePath)
    assert resolved([order_dict(1)]) == [order_dict(1)]


def test_lineage_input_names_the_file(tmp_path: Path) -> None:
    assert lineage_input(str(tmp_path / "a.jsonl")) == ("file", str(tmp_path / "a.jsonl"))
    # As Airflow's Amazon provider names S3 objects (no leading slash), so the datasets join.
    assert lineage_input("s3://dwh/exports/orders.jsonl.gz") == ("s3://dwh", "exports/orders.jsonl.gz")
    assert lineage_input(f"file://{tmp_path}/a.jsonl") == ("file", f"{tmp_path}/a.jsonl")
    assert lineage_input([order_dict(1)]) is None
