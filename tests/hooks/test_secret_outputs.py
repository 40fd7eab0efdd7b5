"""Every output of every malformed-key case: neither the App Token nor a malformed value shows.

For each kind of character a secrets backend or a paste leaves in the Application ID or the App
Token (a line feed, a carriage return, a tab, a NUL, a non-ASCII character, spaces around), every
path that reads the connection runs once against an emulator that knows the right keys: a hook
call and its async twin, the test-connection message (what the UI's *Test* button and
``airflow connections test`` show, the latter run once for all the cases), the import operator,
the sensor's poke and the trigger. Then
everything they left is searched: every log record (all its fields, formatted with its exception),
every exception with its whole chain (``__cause__`` and ``__context__``), stdout and stderr, the
trigger's event and the test message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.exceptions import ConnectionConfigError
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor
from airflow_provider_voucherify.triggers.async_action import AsyncActionTrigger
from tests.hooks.conftest import APP_ID, TOKEN, connect, with_character
from tests.leak_guard import exception_texts, find_secrets, printed_forms
from tests.operators.conftest import order_dict
from tests.operators.test_import_orders import FakeTI

# Each kind of character, where it is found: the surroundings are stripped (a warning names the
# field), anything inside fails before the first request (naming the field).
CASES: dict[str, Callable[[str], str]] = {
    "line feed after": lambda value: value + "\n",
    "line feed inside": lambda value: with_character(value, "\n", "inside"),
    "CR LF after": lambda value: value + "\r\n",
    "carriage return inside": lambda value: with_character(value, "\r", "inside"),
    "tab before": lambda value: "\t" + value,
    "tab inside": lambda value: with_character(value, "\t", "inside"),
    "NUL inside": lambda value: with_character(value, "\0", "inside"),
    "non-ASCII inside": lambda value: with_character(value, "\u00e9", "inside"),
    "spaces around": lambda value: f"  {value}  ",
}


class Records(logging.Handler):
    """Keeps every record it is handed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def every_log_record() -> Iterator[list[logging.LogRecord]]:
    """Every record logged meanwhile, at any level: on the root logger and on each logger that does
    not hand its records on to it, all set to DEBUG for the while."""
    handler = Records()
    manager = logging.Logger.manager
    loggers = [logging.getLogger()] + [
        logger for logger in manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    levels = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        if logger.level:
            logger.setLevel(logging.DEBUG)
        if logger is loggers[0] or not logger.propagate:
            logger.addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        for logger, level in levels:
            logger.setLevel(level)
            logger.removeHandler(handler)


def record_text(record: logging.LogRecord) -> str:
    """A record as any handler could write it: formatted with its exception and stack, and every
    field it carries (arguments and extras included)."""
    formatted = logging.Formatter("%(levelname)s %(name)s %(message)s").format(record)
    return formatted + "\n" + repr(vars(record))


def forbidden(field: str, value: str) -> list[str]:
    """What must never show: the token in any printed form, and the malformed value (of the token,
    also any run of 8 of its characters). A value only surrounded by whitespace prints as the clean
    Application ID when written raw, which may be shown: its escaped forms may not."""
    forms = set(printed_forms(TOKEN))
    if field == "password":
        forms |= set(printed_forms(value, pieces_from=8))
    else:
        forms |= set(printed_forms(value))
        if value.strip() == APP_ID and repr(value)[1:-1] != value:
            forms.discard(value)
    return sorted(forms)


def every_path(texts: list[str]) -> None:
    """Run every path that reads the connection once, keeping what each returned or raised."""

    def attempt(run: Callable[[], Any]) -> Any:
        try:
            return run()
        except Exception as exc:
            texts.extend(exception_texts(exc))
            return None

    def hook_call() -> Any:
        hook = VoucherifyHook()
        try:
            return hook.list_async_actions(limit=1)
        finally:
            hook.close()

    async def async_call() -> Any:
        hook = VoucherifyHook()
        try:
            return await hook.alist_async_actions(limit=1)
        finally:
            await hook.aclose()

    async def first_event(trigger: AsyncActionTrigger) -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    attempt(hook_call)
    attempt(lambda: asyncio.run(async_call()))
    _ok, message = VoucherifyHook().test_connection()
    texts.append(message)
    ti = FakeTI()
    operator = ImportOrdersOperator(task_id="import_orders", orders=[order_dict(1)])
    ids = attempt(lambda: operator.execute({"ti": ti}))  # type: ignore[arg-type]
    texts.append(repr(ti.xcom))
    ids = ids or ["aa_1"]
    sensor = AsyncActionSensor(task_id="wait", async_action_ids=ids, deferrable=False, soft_fail=True)
    texts.append(repr(attempt(lambda: sensor.poke({}))))  # type: ignore[arg-type]
    trigger = AsyncActionTrigger(ids, "voucherify_default", poll_interval=0.05, end_time=time.time() + 10)
    event = attempt(lambda: asyncio.run(first_event(trigger)))
    texts += [json.dumps(event), repr(event)]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("field", ["login", "password"])
def test_no_output_of_any_path_holds_the_token_or_the_malformed_value(
    keyed_emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    field: str,
    case: str,
) -> None:
    value = CASES[case](APP_ID if field == "login" else TOKEN)
    login, password = (value, TOKEN) if field == "login" else (APP_ID, value)
    connect(monkeypatch, keyed_emulator, login=login, password=password)
    texts: list[str] = []

    with every_log_record() as records:
        every_path(texts)

    texts += [record_text(record) for record in records] + list(capfd.readouterr())
    blob = "\n".join(texts)
    assert find_secrets(blob, forbidden(field, value)) == []
    # The case did what it should: a warning naming the field, or an error naming it.
    name = "Application ID" if field == "login" else "App Token"
    if value.strip() in (APP_ID, TOKEN):
        assert f"the {name}" in blob
        assert "whitespace around it" in blob
    else:
        assert f"The {name}" in blob
        assert ConnectionConfigError.__name__ in blob


# Runs in one child interpreter: `airflow connections test` for each connection id given, through
# the CLI's own parser and command, so that Airflow starts once for all the cases.
CONNECTIONS_TEST = """
import sys
from airflow.cli import cli_parser

parser = cli_parser.get_parser()
for conn_id in sys.argv[1:]:
    print(f"=== {conn_id}", flush=True)
    print(f"=== {conn_id}", file=sys.stderr, flush=True)
    args = parser.parse_args(["connections", "test", conn_id])
    try:
        args.func(args)
    except SystemExit:
        pass
    sys.stdout.flush()
    sys.stderr.flush()
"""


def by_connection(output: str) -> dict[str, str]:
    """The child's output split at its ``=== <conn_id>`` lines."""
    parts: dict[str, str] = {}
    for chunk in output.split("=== ")[1:]:
        conn_id, _, text = chunk.partition("\n")
        parts[conn_id] = parts.get(conn_id, "") + text
    return parts


def test_airflow_connections_test_prints_neither_the_token_nor_the_malformed_value(
    keyed_emulator: EmulatorServer,
) -> None:
    cases = {
        f"vf_{field}_{number}": (field, CASES[case](APP_ID if field == "login" else TOKEN))
        for field in ("login", "password")
        for number, case in enumerate(sorted(CASES))
    }
    env = {**os.environ, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    for conn_id, (field, value) in cases.items():
        login, password = (value, TOKEN) if field == "login" else (APP_ID, value)
        conn = {"conn_type": "voucherify", "host": keyed_emulator.url, "login": login, "password": password}
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)

    done = subprocess.run(
        [sys.executable, "-c", CONNECTIONS_TEST, *cases],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=True,
    )

    stdout, stderr = by_connection(done.stdout), by_connection(done.stderr)
    for conn_id, (field, value) in cases.items():
        shown = stdout[conn_id] + stderr[conn_id]
        assert find_secrets(shown, forbidden(field, value)) == [], conn_id
        if value.strip() in (APP_ID, TOKEN):
            assert "Connection success!" in shown, shown
        else:
            assert "Connection failed!" in shown, shown
            assert f"The {'Application ID' if field == 'login' else 'App Token'}" in shown, shown
