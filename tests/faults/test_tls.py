"""TLS verification can be turned off only explicitly (extra ``verify_tls``), and never silently."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from tests.airflow_helpers import point_connection

WARNING = "TLS certificate verification is OFF for connection 'voucherify_default'"


def logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """What the hook logged. Airflow 3's task logging (structlog) writes ``airflow.task.*`` records to
    stdout without propagating them to the root logger, so ``caplog`` alone sees nothing."""
    return caplog.text + capsys.readouterr().out


@pytest.mark.parametrize("flag", [False, "false", "0", "off"])
def test_turning_tls_verification_off_logs_a_warning(
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    flag: object,
) -> None:
    point_connection(monkeypatch, emulator, verify_tls=flag)
    hook = VoucherifyHook()
    with caplog.at_level(logging.WARNING):
        assert hook.get_conn().get("/v1/async-actions", params={"limit": 1}).status_code == 200
    hook.close()

    assert hook.settings.verify_tls is False
    text = logged(caplog, capsys)
    assert WARNING in text
    assert "the App Token can be intercepted" in text
    assert emulator.app_token not in text


def test_tls_verification_is_on_by_default_without_a_warning(
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_connection(monkeypatch, emulator)
    hook = VoucherifyHook()
    with caplog.at_level(logging.WARNING):
        hook.list_async_actions(limit=1)
    hook.close()

    assert hook.settings.verify_tls is True
    assert "TLS certificate verification is OFF" not in logged(caplog, capsys)
