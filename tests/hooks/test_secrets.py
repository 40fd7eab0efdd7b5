"""The Application ID and App Token are checked when the connection is read, through real HTTP
against an emulator that knows this module's keys: surrounding whitespace is stripped with a
warning naming the field, any other character a header cannot carry fails before the first
request naming the field, and neither the token nor a malformed value of either field shows up in
any log record, captured output, exception (with its chain), trigger event or test message."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.exceptions import ConnectionConfigError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor, WaitingCannotCure
from airflow_provider_voucherify.triggers.async_action import AsyncActionTrigger
from tests.hooks.conftest import APP_ID, TOKEN, connect, with_character
from tests.leak_guard import exception_texts, find_secrets, printed_forms

LOGIN, PASSWORD = "Application ID", "App Token"
# Whitespace and control characters, and a few a key never holds (non-ASCII, inner space).
BAD_CHARACTERS = st.characters(categories=["Cc", "Zs", "Zl", "Zp", "Cf"])


def requests_seen(server: EmulatorServer) -> int:
    return int(server.stats()["total_requests"])


def exception_text(exc: BaseException) -> str:
    """Everything an exception prints, with its whole chain."""
    return "\n".join(exception_texts(exc))


def assert_not_leaked(texts: list[str], login: str, password: str) -> None:
    """Neither the token (nor a run of 8+ of its characters) nor a malformed Application ID (the
    clean one, stripped of whitespace around it, may be logged)."""
    forms = printed_forms(password, pieces_from=8)
    if any(not "!" <= char <= "~" for char in login.strip()):
        forms += printed_forms(login)
    blob = "\n".join(texts)
    assert find_secrets(blob, forms) == []


@pytest.mark.parametrize("around", ["\n", "\r\n", " ", "\t", " \n"], ids=repr)
@pytest.mark.parametrize("field", ["login", "password"])
def test_surrounding_whitespace_is_stripped_with_a_warning_naming_the_field(
    keyed_emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    field: str,
    around: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    login = APP_ID + around if field == "login" else APP_ID
    password = TOKEN + around if field == "password" else TOKEN
    connect(monkeypatch, keyed_emulator, login=login, password=password)
    hook = VoucherifyHook()

    assert hook.list_async_actions(limit=1) == []
    ok, message = hook.test_connection()

    assert ok, message
    logged = caplog.text + "".join(capfd.readouterr())
    assert f"the {LOGIN if field == 'login' else PASSWORD}" in logged
    assert "whitespace around it" in logged
    assert_not_leaked([logged, message], login, password)


@pytest.mark.parametrize(
    ("char", "kind"),
    [
        ("\n", "a line feed (U+000A)"),
        ("\x00", "a control character (U+0000)"),
        ("\x7f", "a control character (U+007F)"),
        (" ", "a space (U+0020)"),
        ("\u00e9", "a non-ASCII character (U+00E9)"),
        ("\u2028", "a whitespace character (U+2028)"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("field", ["login", "password"])
def test_a_character_a_header_cannot_carry_fails_before_the_first_request(
    keyed_emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    field: str,
    char: str,
    kind: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    login = with_character(APP_ID, char, "inside") if field == "login" else APP_ID
    password = with_character(TOKEN, char, "inside") if field == "password" else TOKEN
    connect(monkeypatch, keyed_emulator, login=login, password=password)
    before = requests_seen(keyed_emulator)

    with pytest.raises(ConnectionConfigError) as caught:
        VoucherifyHook().import_orders([{"source_id": "o-1"}])
    ok, message = VoucherifyHook().test_connection()

    assert requests_seen(keyed_emulator) == before
    assert not ok
    name = LOGIN if field == "login" else PASSWORD
    for text in (str(caught.value), message):
        assert "Connection 'voucherify_default'" in text
        assert f"The {name}" in text
        assert f"{kind} at character 5" in text
    logged = caplog.text + "".join(capfd.readouterr())
    assert_not_leaked([logged, message, exception_text(caught.value)], login, password)


def test_a_deferrable_sensor_with_soft_fail_fails_at_once_on_a_malformed_token(
    keyed_emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    password = with_character(TOKEN, "\n", "inside")
    connect(monkeypatch, keyed_emulator, login=APP_ID, password=password)
    sensor = AsyncActionSensor(
        task_id="wait", async_action_ids=["aa_1"], deferrable=True, soft_fail=True, timeout=3600
    )

    started = time.monotonic()
    with pytest.raises(WaitingCannotCure) as caught:  # not a skip, and not a deferral
        sensor.execute({})  # type: ignore[arg-type]

    assert time.monotonic() - started < 10
    assert isinstance(caught.value.__cause__, ConnectionConfigError)
    assert "App Token" in str(caught.value)
    logged = caplog.text + "".join(capfd.readouterr())
    assert_not_leaked([logged, exception_text(caught.value)], APP_ID, password)


def test_a_trigger_on_a_malformed_connection_fires_an_error_event_without_the_value(
    keyed_emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    login = with_character(APP_ID, "\r", "inside")
    connect(monkeypatch, keyed_emulator, login=login, password=TOKEN + "\n")
    trigger = AsyncActionTrigger(["aa_1"], "voucherify_default", poll_interval=0.05, end_time=time.time() + 5)

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    event = asyncio.run(first_event())

    assert event["status"] == "error"
    assert "The Application ID" in event["message"]
    logged = caplog.text + "".join(capfd.readouterr())
    assert_not_leaked([logged, json.dumps(event), repr(event)], login, TOKEN + "\n")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    field=st.sampled_from(["login", "password"]),
    chars=st.lists(
        st.tuples(BAD_CHARACTERS, st.sampled_from(["before", "after", "inside"])), min_size=1, max_size=3
    ),
)
def test_any_whitespace_or_control_character_either_works_or_fails_before_the_first_request(
    keyed_emulator: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    field: str,
    chars: list[tuple[str, str]],
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    value = APP_ID if field == "login" else TOKEN
    for char, where in chars:
        value = with_character(value, char, where)
    login, password = (value, TOKEN) if field == "login" else (APP_ID, value)
    before = requests_seen(keyed_emulator)
    texts: list[str] = []

    with pytest.MonkeyPatch.context() as monkeypatch:
        connect(monkeypatch, keyed_emulator, login=login, password=password)
        hook = VoucherifyHook()
        try:
            hook.list_async_actions(limit=1)
        except ConnectionConfigError as exc:
            texts.append(exception_text(exc))
            assert requests_seen(keyed_emulator) == before, "the error came after a request"
            assert value.strip() not in (APP_ID, TOKEN), "stripping would have made it work"
        else:
            assert value.strip() in (APP_ID, TOKEN), "a call worked with another value than the key"
        finally:
            hook.close()
        texts.append(VoucherifyHook().test_connection()[1])

    texts += [caplog.text, *capfd.readouterr()]
    assert_not_leaked(texts, login, password)


def test_printed_forms_see_an_escaped_line_break() -> None:
    forms = printed_forms("tok-1234\nabcdefgh", pieces_from=8)
    assert find_secrets("Illegal header value b'tok-1234\\nabcdefgh'", forms)
    assert find_secrets("... abcdefgh ...", forms) == ["abcdefgh"]
