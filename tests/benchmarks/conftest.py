"""Benchmark fixtures: generated order files, an emulator at unlimited speed, the results table."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from tests.benchmarks import _report
from tests.benchmarks._orders import write_orders

THROUGHPUT_ORDERS = 200_000


@pytest.fixture(scope="session")
def orders_200k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200,000 generated orders as JSON Lines, written once per session."""
    return write_orders(tmp_path_factory.mktemp("bench-orders") / "orders-200k.jsonl", THROUGHPUT_ORDERS)


@pytest.fixture(scope="session")
def unlimited_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """An emulator importing as fast as it can (``orders_per_second=0``), for the whole session."""
    with EmulatorServer(tmp_path_factory.mktemp("bench-emulator"), orders_per_second=0) as server:
        yield server


@pytest.fixture(autouse=True)
def _quiet_http_logs() -> None:
    """httpx, httpcore and urllib3 log each request at DEBUG: formatting them would be timed too."""
    for name in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _report.FIGURES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("benchmark results")
    for line in [*_report.header(), "", *_report.table()]:
        write(line)
    for text in _report.NOTES:
        write(f"- {text}")
    if _report.complete():
        _report.RESULTS.write_text(_report.markdown())
        write(f"written to {_report.RESULTS}")
    else:
        write(f"not all sections ran ({', '.join(_report.SECTIONS)}): {_report.RESULTS.name} left as it was")
