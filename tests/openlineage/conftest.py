"""These tests need apache-airflow-providers-openlineage: `make openlineage` runs them in
.venv-openlineage (the main environment leaves the provider out on purpose)."""

from __future__ import annotations

import pytest

pytest.importorskip("airflow.providers.openlineage", reason="run by `make openlineage`")
