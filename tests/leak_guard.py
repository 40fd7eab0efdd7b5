"""Secrets never leak: a pytest plugin that greps everything the suite captured.

After every test it reads the captured stdout, stderr and log records (pytest captures all of
them, at DEBUG, see ``log_level`` in setup.cfg) and the failure text. At the end of the session
it also greps every file under the test Airflow homes (metadata DBs with XComs and rendered
templates, task logs) and pytest's temporary directory (emulator logs, e2e Airflow homes and
their logs). Any App Token found fails the session and names where it was seen.

Under pytest-xdist both checks run in the controller, which fails the session: it reads each
test's report as the worker sends it (captured sections included), and greps the homes of every
worker (``VOUCHERIFY_TEST_AIRFLOW_HOMES``, set by tests/conftest.py) and the base temporary
directory, which holds each worker's own.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import DEFAULT_APP_TOKEN

# Every token the suite hands to a hook or an emulator.
SECRETS = (DEFAULT_APP_TOKEN, "tok-3f9c1e-very-secret-value")
# The emulator's own database holds the project's credentials by design: it is the server.
SERVER_SIDE = ("voucherify-emulator",)

_leaks: list[str] = []


def find_secrets(text: str | bytes, secrets: Iterable[str] = SECRETS) -> list[str]:
    blob = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    return [secret for secret in secrets if secret.encode() in blob]


def _files(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            if not name.startswith(SERVER_SIDE):
                yield Path(dirpath) / name


_in_xdist_worker = False


def pytest_configure(config: pytest.Config) -> None:
    global _in_xdist_worker
    _in_xdist_worker = hasattr(config, "workerinput")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _in_xdist_worker:
        return  # read where the report arrives: xdist's controller
    texts = [content for _title, content in report.sections] + [report.longreprtext]
    for secret in find_secrets("\n".join(texts)):
        _leaks.append(f"{report.nodeid} ({report.when}): captured output holds {secret[:4]}…")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _in_xdist_worker:
        return  # the controller greps every worker's files once all of them are done
    homes = os.environ.get("VOUCHERIFY_TEST_AIRFLOW_HOMES") or os.environ["AIRFLOW_HOME"]
    roots = [Path(homes)]
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        roots.append(factory.getbasetemp())
    for root in roots:
        for path in _files(root):
            try:
                found = find_secrets(path.read_bytes())
            except OSError:
                continue
            _leaks.extend(f"{path}: holds {secret[:4]}…" for secret in found)
    if _leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("App Token leaks found:", red=True)
            for leak in _leaks:
                reporter.write_line(f"  {leak}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def printed_forms(value: str, *, pieces_from: int = 0) -> list[str]:
    """The ways ``value`` can show up in text: as it is, escaped as ``repr`` or a traceback writes
    it (a line break as ``\\n``), and, with ``pieces_from``, each run of at least that many
    characters between the characters a header cannot carry (what a message quoting part of a
    malformed token would print)."""
    forms = {value, repr(value)[1:-1], value.encode("unicode_escape").decode("ascii")}
    if pieces_from:
        piece = ""
        for char in value + "\0":
            if "!" <= char <= "~":
                piece += char
                continue
            if len(piece) >= pieces_from:
                forms.add(piece)
            piece = ""
    return sorted(form for form in forms if form)


def exception_texts(exc: BaseException) -> list[str]:
    """Every text ``exc`` and the exceptions it chains (``__cause__``, ``__context__``, a group's
    members) print or carry: the traceback as Python writes it, and of each one its message,
    ``repr``, arguments and attributes."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args), repr(getattr(current, "__dict__", {}))]
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        todo += list(getattr(current, "exceptions", ()))
    return texts
