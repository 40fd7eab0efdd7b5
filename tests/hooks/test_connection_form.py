"""The connection form as the installed Airflow shows it: every extra, with its label.

Airflow 3.2 and later read ``conn-fields`` from the provider info; Airflow 3.1 asks the hook's
``get_connection_form_widgets()``. Both are generated from ``ConnectionExtras``, and these tests ask
Airflow itself (its CLI, and the metadata its UI renders the form from) in a child interpreter, so
they hold on whichever Airflow runs them: ``make test`` runs them on 3.1.0, 3.2.0 and the newest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_voucherify.hooks._extras import ConnectionExtras

ROOT = Path(__file__).resolve().parents[2]

# What the UI's form is built from (GET /ui/connections/hook_meta), printed as JSON.
HOOK_META = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
(meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "voucherify"]
print(json.dumps(meta.model_dump(mode="json")))
"""

# The tier of the older-Airflow runs (unit-lowest, unit-3.2 take `pure` and `airflow`): these
# tests start Airflow's CLI, but what they check is exactly what differs between Airflow releases.
pytestmark = pytest.mark.airflow


def _run(*args: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=180, env=env, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_airflow_providers_widgets_lists_every_extra() -> None:
    widgets = json.loads(
        _run("-m", "airflow", "providers", "widgets", "--output", "json").strip().splitlines()[-1]
    )
    ours = {
        w["connection_parameter_name"] for w in widgets if w["package_name"] == "airflow-provider-voucherify"
    }
    assert ours == {f"extra__voucherify__{name}" for name in ConnectionExtras.field_names()}


def test_the_ui_form_labels_every_extra_and_field() -> None:
    meta = json.loads(_run("-c", HOOK_META).strip().splitlines()[-1])  # Airflow may log to stdout first
    extras = meta["extra_fields"] or {}
    assert list(extras) == list(ConnectionExtras.field_names())
    for name, field in ConnectionExtras.model_fields.items():
        if name in extras:
            assert extras[name]["schema"]["title"] == field.title
            assert extras[name]["description"] == field.description
    standard = meta["standard_fields"]
    assert standard["login"]["title"] == "Application ID"
    assert standard["password"]["title"] == "Secret Key"
    assert standard["url_schema"]["hidden"] is True
