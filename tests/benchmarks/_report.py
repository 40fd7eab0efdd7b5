"""The figures of one ``make bench`` run, printed as one table and written to ``RESULTS.md``.

Benchmarks call :func:`record` for each figure; ``conftest.py`` prints the table at the end of
the session and, when every section ran, rewrites ``RESULTS.md`` with it.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import psutil

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTIONS = ("throughput", "memory", "api calls", "triggerer", "plan limits", "input", "reconciliation")
COMMAND = "make bench  (= .venv/bin/python -m pytest -m bench -s -p no:randomly tests/benchmarks)"


@dataclass(frozen=True)
class Figure:
    section: str
    name: str
    value: str
    target: str = ""
    met: bool | None = None  # None: no target, printed for context

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "MISSED")


FIGURES: list[Figure] = []
NOTES: list[str] = []
STARTED = time.time()
LOAD_AT_START = os.getloadavg()


def record(section: str, name: str, value: str, target: str = "", met: bool | None = None) -> Figure:
    """Add one figure to the run's table, and print it at once (``-s``) for whoever watches."""
    figure = Figure(section, name, value, target, met)
    FIGURES.append(figure)
    print(f"  [{section}] {name}: {value}" + (f"  (target {target}: {figure.verdict})" if target else ""))
    return figure


def note(text: str) -> None:
    """A line printed under the table (how a figure was measured, what bounds it)."""
    NOTES.append(text)


def complete() -> bool:
    return all(any(f.section == section for f in FIGURES) for section in SECTIONS)


def table() -> list[str]:
    rows = ["| section | figure | value | target | met |", "|---|---|---|---|---|"]
    rows += [f"| {f.section} | {f.name} | {f.value} | {f.target} | {f.verdict} |" for f in FIGURES]
    return rows


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, {platform.system()} {platform.release()}"


def header() -> list[str]:
    now = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(STARTED))
    load = ", ".join(f"{x:.1f}" for x in LOAD_AT_START)
    end_load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    versions = ", ".join(
        f"{name} {version(name)}" for name in ("pydantic", "httpx", "voucherify", "apache-airflow")
    )
    return [
        f"- date: {now}; whole run {time.time() - STARTED:.0f} s",
        f"- machine: {machine()}; load average {load} at the start, {end_load} at the end",
        f"- Python {sys.version.split()[0]}; {versions}",
        f"- command: `{COMMAND}`",
    ]


def markdown() -> str:
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (tests/benchmarks/_report.py) at the end of a full run; the same table",
        "is printed on the terminal. Benchmarks assert only sanity (every order arrived), never timing.",
        "",
        *header(),
        "",
        *table(),
    ]
    if NOTES:
        lines += ["", "Notes:", "", *(f"- {text}" for text in NOTES)]
    return "\n".join(lines) + "\n"
