from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from tests.hooks.scripted_server import ScriptedServer
from tests.leak_guard import SECRETS

TOKEN = SECRETS[1]  # the leak guard greps the whole session's output and files for it too
APP_ID = "app-7d41b2"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture
def conn_env(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> ScriptedServer:
    """Point voucherify_default at the scripted server, with fast backoff for tests."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOUCHERIFY_DEFAULT",
        json.dumps(
            {
                "conn_type": "voucherify",
                "host": server.url,
                "login": "app-id-1",
                "password": TOKEN,
                "extra": {"timeout": 1, "max_retries": 3, "retry_backoff": 0.01},
            }
        ),
    )
    return server


@pytest.fixture(scope="module")
def keyed_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """An emulator that knows :data:`APP_ID` and :data:`TOKEN` only."""
    directory = tmp_path_factory.mktemp("secrets-emulator")
    with EmulatorServer(directory, app_id=APP_ID, app_token=TOKEN, orders_per_second=0) as server:
        yield server


def connect(monkeypatch: pytest.MonkeyPatch, server: EmulatorServer, *, login: str, password: str) -> None:
    """Point ``voucherify_default`` at ``server`` with these keys, as given (whatever they hold)."""
    conn = {
        "conn_type": "voucherify",
        "host": server.url,
        "login": login,
        "password": password,
        "extra": {"timeout": 5, "max_retries": 2, "retry_backoff": 0.01},
    }
    monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", json.dumps(conn))


def with_character(value: str, char: str, where: str) -> str:
    return {"before": char + value, "after": value + char, "inside": value[:4] + char + value[4:]}[where]
