"""The operator tests' fixtures, for the engine tests that end by running the operator on it."""

from __future__ import annotations

from tests.operators.conftest import memory_storage, orders_file, server

__all__ = ["memory_storage", "orders_file", "server"]
