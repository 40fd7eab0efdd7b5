"""Fixtures of the fault matrix, and the table of its cases printed at the end of the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.matrix import ROWS, text_table, write_orders

COLUMNS = (
    ("case", "case"),
    ("outcome", "outcome"),
    ("expected", "orders to store"),
    ("stored", "stored"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("imports", "imports accepted"),
    ("seconds", "s"),
    ("note", "note"),
)


@pytest.fixture(scope="session")
def orders_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The matrix's input file, written once per session."""
    return write_orders(tmp_path_factory.mktemp("fault-matrix") / "orders.jsonl.gz")


def format_table() -> list[str]:
    return text_table(COLUMNS, ROWS)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    terminalreporter.section("fault matrix: every order once, nothing lost")
    for line in format_table():
        terminalreporter.write_line(line)
    total = sum(row.seconds for row in ROWS)
    terminalreporter.write_line(f"{len(ROWS)} cases in {total:.1f} s")
