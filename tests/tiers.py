"""Tiers: every collected test is marked with exactly one, by what it uses (set in setup.cfg).

- ``process``: starts processes of its own: Airflow components or its CLI, a browser, a cluster
  (PostgreSQL, Redis, Celery, S3), a child interpreter (tests under e2e/, faults/, ui/,
  distributed/ and benchmarks/, the ``e2e``/``postgres``/``distributed``/``bench`` markers, and
  any test whose code or fixtures call ``subprocess`` or pytester's ``runpytest_subprocess``).
- ``airflow``: runs Airflow tasks in the test process: needs the ``airflow_db`` fixture.
- ``emulator``: talks to a Voucherify emulator over HTTP (a fixture returning an
  ``EmulatorServer``, or one started in the test), and runs no Airflow task.
- ``pure``: none of these: in-process only (it may serve HTTP from a thread of its own, as the
  hook tests' scripted server does).

The first that applies wins, in that order. ``make check`` runs ``pure`` and ``emulator``; the
version matrix of ``make test`` runs ``pure`` on every cell, ``emulator`` on its corners and
``airflow`` on the lowest (the Makefile's ``TIERS_<cell>``).

A guard checks the tier while each test sets up and runs: a ``pure`` test that starts any
process, or an ``emulator`` test that starts one other than the emulator, fails with a message
naming the tier to give it.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

TIERS = ("pure", "emulator", "airflow", "process")

PROCESS_DIRS = frozenset({"e2e", "faults", "ui", "distributed", "benchmarks"})
PROCESS_MARKERS = ("e2e", "postgres", "distributed", "bench")
# Fixtures whose value is one of these start processes of their own.
PROCESS_TYPES = ("AirflowCluster", "PostgresServer", "RedisServer", "S3Server")
# Names that, referenced from a test's code, mean it starts a process.
PROCESS_NAMES = frozenset({"Popen", "runpytest_subprocess", "spawn_child"})
EMULATOR_MODULE = "airflow_provider_voucherify.emulator"
# Fixtures whose own process is set-up, not what the test uses: ``airflow_db`` runs
# ``airflow db migrate`` once per environment, and its tests are the ``airflow`` tier.
SET_UP_FIXTURES = frozenset({"airflow_db"})

# nodeid -> the tiers it was marked with, for every collected test (before ``-m`` deselects any).
COLLECTED: dict[str, list[str]] = {}


def _own_code(obj: Any) -> bool:
    """Test code of this project (helpers in tests/), as opposed to the package or libraries."""
    module = str(getattr(obj, "__module__", ""))
    return module == "tests" or module.startswith("tests.")


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _uses(obj: Any, seen: set[int] | None = None) -> set[str]:
    """What ``obj`` (a function or class of the tests) reaches, following the functions and classes
    of tests/ that it names: ``process`` (subprocess) or ``emulator`` (``EmulatorServer``)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return set()
    seen.add(id(obj))
    if inspect.isclass(obj):
        found: set[str] = set()
        for member in vars(obj).values():
            function = getattr(member, "__func__", member)
            if inspect.isfunction(function):
                found |= _uses(function, seen)
        return found
    function = inspect.unwrap(obj)
    if not inspect.isfunction(function):
        return set()
    found = set()
    names = {name for code in _code_objects(function.__code__) for name in code.co_names}
    if names & PROCESS_NAMES:
        found.add("process")
    for name in names:
        value = function.__globals__.get(name)
        if value is subprocess or (callable(value) and value is getattr(subprocess, name, None)):
            found.add("process")
        elif getattr(value, "__name__", None) == "EmulatorServer" and inspect.isclass(value):
            found.add("emulator")
        elif (inspect.isfunction(value) or inspect.isclass(value)) and _own_code(value):
            found |= _uses(value, seen)
    return found


def tier_of(item: pytest.Item) -> str:
    """The one tier ``item`` belongs in (see the module's docstring)."""
    path = item.path.relative_to(item.config.rootpath)
    if PROCESS_DIRS & set(path.parts[:-1]) or any(item.get_closest_marker(m) for m in PROCESS_MARKERS):
        return "process"
    info = getattr(item, "_fixtureinfo", None)
    definitions = [d for defs in (info.name2fixturedefs.values() if info else ()) for d in defs]
    returns = [str(getattr(d.func, "__annotations__", {}).get("return", "")) for d in definitions]
    uses = _uses(getattr(item, "function", None))
    for definition in definitions:
        if _own_code(definition.func) and definition.argname not in SET_UP_FIXTURES:
            uses |= _uses(definition.func)
    if "process" in uses or any(kind in text for text in returns for kind in PROCESS_TYPES):
        return "process"
    if "airflow_db" in getattr(item, "fixturenames", ()):
        return "airflow"
    if "emulator" in uses or any("EmulatorServer" in text for text in returns):
        return "emulator"
    return "pure"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(name) for name in TIERS):  # a test may name its own tier
            item.add_marker(getattr(pytest.mark, tier_of(item)))
        COLLECTED[item.nodeid] = tiers(item)


# Longest first: pytest-xdist hands tests out in collection order, so a suite whose slowest tests
# start last ends on one busy worker while the other idles. The process tier's tests take minutes
# (the Airflow clusters of e2e/ and ui/ the longest), the pure tier's milliseconds.
_SLOWEST_DIRS = ("tests/e2e/", "tests/ui/", "tests/docs/", "tests/distributed/")


def _expected_cost(item: pytest.Item) -> tuple[int, int]:
    names = tiers(item)
    tier = TIERS.index(names[0]) if names else 0
    slowest = [rank for rank, folder in enumerate(_SLOWEST_DIRS) if item.nodeid.startswith(folder)]
    return (-tier, slowest[0] if slowest else len(_SLOWEST_DIRS))


def costliest_first(items: list[pytest.Item]) -> None:
    """Sort ``items`` in place, the costliest tiers first (a stable sort: a shuffle within a group stays)."""
    items.sort(key=_expected_cost)


def tiers(item: pytest.Item) -> list[str]:
    return [mark.name for mark in item.iter_markers() if mark.name in TIERS]


def _only(names: list[str]) -> str | None:
    return names[0] if len(names) == 1 else None


# ---- the guard: a test's tier holds while it sets up and runs
_current: str | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "subprocess.Popen" or _current not in ("pure", "emulator"):
        return
    command = " ".join(str(arg) for arg in (args[1] if isinstance(args[1], (list, tuple)) else [args[1]]))
    if _current == "emulator" and EMULATOR_MODULE in command:
        return
    wanted = "emulator" if EMULATOR_MODULE in command else "process"
    raise RuntimeError(
        f"a {_current!r} test started a process ({command[:200]}): it belongs in the {wanted!r} tier "
        "(see tests/tiers.py)"
    )


sys.addaudithook(_audit)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    global _current
    _current = _only(tiers(item))
    try:
        return (yield)
    finally:
        _current = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    global _current
    _current = _only(tiers(item))
    try:
        return (yield)
    finally:
        _current = None
