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
