"""Every collected test has exactly one tier (tests/tiers.py), and the tiers mean what they say."""

from __future__ import annotations

import pytest

from tests.tiers import COLLECTED, TIERS

pytest_plugins = ["pytester"]


def test_every_collected_test_has_exactly_one_tier() -> None:
    assert COLLECTED, "the tiers plugin saw no collected test"
    wrong = {nodeid: tiers for nodeid, tiers in COLLECTED.items() if len(tiers) != 1}
    assert not wrong, f"tests without exactly one of {TIERS}: {wrong}"


def test_a_pure_test_that_starts_a_process_fails(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["tests.tiers"]')
    pytester.makepyfile(
        """
        import pytest
        import sys

        @pytest.mark.pure
        def test_sneaky():
            __import__("subprocess").run([sys.executable, "-c", "pass"], check=True)
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*a 'pure' test started a process*belongs in the 'process' tier*"])


def test_the_costliest_tests_are_handed_out_first(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        pytest_plugins = ["tests.tiers"]

        @pytest.hookimpl(trylast=True)
        def pytest_collection_modifyitems(items):
            from tests.tiers import costliest_first
            costliest_first(items)
        """
    )
    pytester.makepyfile(
        test_mixed="""
        import pytest

        def test_pure():
            pass

        @pytest.mark.emulator
        def test_emulator():
            pass

        @pytest.mark.process
        def test_process():
            pass

        @pytest.mark.airflow
        def test_airflow():
            pass
        """
    )
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:randomly", "--collect-only", "-q"
    )
    names = [line.split("::")[-1] for line in result.outlines if "::" in line]
    assert names == ["test_process", "test_airflow", "test_emulator", "test_pure"]
