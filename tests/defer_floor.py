"""A fixture for tests of the deferral mechanics themselves, driven in-process.

Their windows last seconds, under ``MIN_DEFER_SECONDS``, so the operators would wait in the worker;
``tests.operators.deferral.drive`` resumes a deferred task in-process, where Airflow's defer/resume
race (the floor's reason) does not exist, so these tests lower the floor to 0.
"""

from __future__ import annotations

import pytest

from airflow_provider_voucherify import rate_limits


@pytest.fixture
def no_defer_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rate_limits, "MIN_DEFER_SECONDS", 0.0)
