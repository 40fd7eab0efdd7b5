"""The leak guard itself can fail: a session that logs a token ends red."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import ROOT
from tests.leak_guard import SECRETS, find_secrets

pytest_plugins = ["pytester"]


def test_find_secrets_sees_tokens_in_text_and_bytes() -> None:
    assert find_secrets(f"X-App-Token: {SECRETS[0]}") == [SECRETS[0]]
    assert find_secrets(SECRETS[1].encode()) == [SECRETS[1]]
    assert find_secrets("nothing here") == []


def test_a_session_that_logs_a_token_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    # The token is spelled backwards in the file, so only the careless log line holds it.
    pytester.makepyfile(
        f"""
        import logging

        def test_careless():
            logging.getLogger("x").warning("token is %s", {SECRETS[0][::-1]!r}[::-1])
        """
    )
    result = pytester.runpytest_subprocess("-p", "tests.leak_guard", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*App Token leaks found*", "*test_careless*"])


def test_a_leak_in_an_xdist_worker_fails_the_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under pytest-xdist (``make test`` runs its suites with ``-n``) the controller, not the worker
    that saw it, fails the session: for a token in a test's log and for one in a file."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(
        f"""
        import logging
        import os
        from pathlib import Path

        def test_careless_log():
            logging.getLogger("x").warning("token is %s", {SECRETS[0][::-1]!r}[::-1])

        def test_careless_file():
            Path(os.environ["AIRFLOW_HOME"], "task.log").write_text({SECRETS[1][::-1]!r}[::-1])
        """
    )
    monkeypatch.setenv("AIRFLOW_HOME", str(pytester.path / "home"))
    monkeypatch.delenv("VOUCHERIFY_TEST_AIRFLOW_HOMES")
    (pytester.path / "home").mkdir()
    try:
        result = pytester.runpytest_subprocess("-p", "tests.leak_guard", "-p", "no:cacheprovider", "-n", "2")
    finally:
        # The planted file lies under this session's temporary directory, which the outer guard
        # greps too: remove it, or the outer session fails on the leak this test made on purpose.
        shutil.rmtree(pytester.path / "home")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*App Token leaks found*"])
    result.stdout.fnmatch_lines(["*test_careless_log*"])
    result.stdout.fnmatch_lines(["*task.log: holds*"])
