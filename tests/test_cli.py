"""The provider through Airflow's own CLI: registration and `airflow connections test`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from airflow_provider_voucherify.emulator.testing import EmulatorServer


def _airflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled", **(env or {})},
    )


def test_providers_list_and_hooks_show_the_provider() -> None:
    providers = _airflow("providers", "list", "--output", "json")
    assert any(p["package_name"] == "airflow-provider-voucherify" for p in json.loads(providers.stdout))
    hooks = _airflow("providers", "hooks", "--output", "json")
    (entry,) = [h for h in json.loads(hooks.stdout) if h["connection_type"] == "voucherify"]
    assert entry["class"] == "airflow_provider_voucherify.hooks.voucherify.VoucherifyHook"


def test_connections_test_answers_through_test_connection(emulator: EmulatorServer) -> None:
    good = _airflow("connections", "test", "vf_ok", env={"AIRFLOW_CONN_VF_OK": emulator.conn_json})
    assert "Connection success!" in good.stdout, good.stdout + good.stderr

    wrong = json.loads(emulator.conn_json) | {"password": "wrong-token-abcdef"}
    bad = _airflow("connections", "test", "vf_bad", env={"AIRFLOW_CONN_VF_BAD": json.dumps(wrong)})
    assert "Connection success!" not in bad.stdout
    assert "401" in bad.stdout + bad.stderr
    assert "wrong-token-abcdef" not in bad.stdout + bad.stderr
    requests = emulator.stats()["requests"]["GET /v1/async-actions"]
    assert requests == {"200": 1, "401": 1}


def test_connections_add_with_the_voucherify_type(airflow_db: object, emulator: EmulatorServer) -> None:
    # A Secret Key the emulator does not know: the connection lands in the metadata DB, and the
    # test goes through VoucherifyHook.test_connection() to the emulator, which answers 401.
    added = _airflow(
        "connections",
        "add",
        "vf_from_cli",
        "--conn-type",
        "voucherify",
        "--conn-host",
        emulator.url,
        "--conn-login",
        emulator.app_id,
        "--conn-password",
        "not-the-secret-key",
    )
    assert added.returncode == 0, added.stderr
    try:
        tested = _airflow("connections", "test", "vf_from_cli")
        assert "401" in tested.stdout + tested.stderr
        assert emulator.stats()["requests"]["GET /v1/async-actions"] == {"401": 1}
    finally:
        _airflow("connections", "delete", "vf_from_cli")
