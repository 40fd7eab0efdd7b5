from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.hooks.scripted_server import ScriptedServer

TOKEN = "tok-3f9c1e-very-secret-value"


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
