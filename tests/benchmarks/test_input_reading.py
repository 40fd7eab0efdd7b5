"""Input reading: the bounded line reader costs nothing on normal files and caps a one-line array.

Memory: a fresh Python process reads and validates a file the way the operator does
(``OrderSource`` into ``serialized_orders``) and reports the peak of what Python allocated meanwhile
(tracemalloc), once for 48 MB of JSON Lines and once for the same orders written as a minified JSON
array on one line (which must fail with ``InvalidOrdersFileError``). Target: the array's peak within
30 MB of the JSON Lines peak. The reader as it was (plain iteration) is measured on the array too.

Throughput: in one process, interleaved, the 200,000-order file is read (a) by the reader as it was
(``for line in BufferedReader``, the floor) and (b) by ``OrderSource``; then read, validated and
serialized by the operator's pipeline fed by each. Target: (b) / (a) >= 0.97, i.e. no slower
within noise.
"""

from __future__ import annotations

import gc
import io
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_voucherify.operators._source import READ_BUFFER, OrderSource
from airflow_provider_voucherify.operators._validation import Counts, serialized_orders
from tests.benchmarks._orders import order
from tests.benchmarks._report import note, record
from tests.benchmarks.conftest import THROUGHPUT_ORDERS

pytestmark = pytest.mark.bench

ARRAY_MB = 48
MAX_EXTRA_MB = 30
MIN_RATIO = 0.97
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))

# Runs in the child process: argv = [orders file, "bounded" or "plain"]. Prints the peak of the
# memory Python allocated while reading (tracemalloc: the RSS peak of importing Airflow would hide
# it), the peak RSS, and what happened.
CHILD = """
import io, json, resource, sys, tracemalloc
from airflow_provider_voucherify.exceptions import InvalidOrderError
from airflow_provider_voucherify.operators._source import READ_BUFFER, OrderSource
from airflow_provider_voucherify.operators._validation import Counts, serialized_orders

def plain(path):
    with io.BufferedReader(io.FileIO(path, "rb"), buffer_size=READ_BUFFER) as handle:
        yield from enumerate(handle, start=1)

counts, outcome = Counts(), "read"
tracemalloc.start()
try:
    if sys.argv[2] == "plain":
        for _ in serialized_orders(plain(sys.argv[1]), counts=counts):
            pass
    else:
        with OrderSource(sys.argv[1]) as source:
            for _ in serialized_orders(source, counts=counts):
                pass
except InvalidOrderError as error:
    outcome = type(error).__name__ + ": " + str(error)[:100]
peak = tracemalloc.get_traced_memory()[1]
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_mb": peak / 1e6, "rss_mb": rss_mb, "valid": counts.valid, "outcome": outcome}))
"""


def _peak(path: Path, reader: str = "bounded") -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), reader],
        capture_output=True,
        check=True,
        text=True,
        timeout=900,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _same_orders(directory: Path, megabytes: int) -> tuple[Path, Path]:
    """The same generated orders as JSON Lines and as a one-line JSON array, about ``megabytes`` each."""
    rng = random.Random(3)
    lines, size, number = [], 0, 0
    while size < megabytes * 1_000_000:
        line = json.dumps(order(number, rng, "arr"), separators=(",", ":")).encode()
        lines.append(line)
        size += len(line) + 1
        number += 1
    jsonl = directory / "orders.jsonl"
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    array = directory / "orders-array.json"
    array.write_bytes(b"[" + b",".join(lines) + b"]")
    return jsonl, array


def test_a_one_line_array_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    jsonl, array = _same_orders(tmp_path, ARRAY_MB)
    lines_run, array_run = _peak(jsonl), _peak(array)
    before = _peak(array, "plain")  # the reader as it was, for the record
    print(f"  JSON Lines: {lines_run}\n  one-line array: {array_run}\n  array, plain reader: {before}")
    assert lines_run["outcome"] == "read", lines_run
    assert int(str(lines_run["valid"])) > 0, lines_run
    assert str(array_run["outcome"]).startswith("InvalidOrdersFileError"), array_run
    assert "JSON array" in str(array_run["outcome"]), array_run
    extra = float(str(array_run["peak_mb"])) - float(str(lines_run["peak_mb"]))
    size_mb = array.stat().st_size / 1e6
    record(
        "input", f"allocated while reading {size_mb:.0f} MB of JSON Lines", f"{lines_run['peak_mb']:.1f} MB"
    )
    record("input", "the same orders as a one-line JSON array (refused)", f"{array_run['peak_mb']:.1f} MB")
    record("input", "the array with the reader as it was (unbounded)", f"{before['peak_mb']:.1f} MB")
    record(
        "input",
        "one-line array minus JSON Lines",
        f"{extra:+.1f} MB",
        f"<= {MAX_EXTRA_MB} MB",
        extra <= MAX_EXTRA_MB,
    )
    assert extra <= MAX_EXTRA_MB


def _unbounded(path: Path) -> Iterator[tuple[int, bytes]]:
    """The reader as it was before lines were bounded: plain iteration over a buffered file."""
    with io.BufferedReader(io.FileIO(path, "rb"), buffer_size=READ_BUFFER) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.isspace():
                yield number, line


def _bounded(path: Path) -> Iterator[tuple[int, bytes]]:
    with OrderSource(path) as source:
        yield from source  # type: ignore[misc]


def _timed(run: object) -> float:
    gc.collect()
    started = time.process_time()
    run()  # type: ignore[operator]
    return time.process_time() - started


def test_bounded_reader_is_as_fast_as_plain_iteration(orders_200k: Path) -> None:
    readers = {"plain iteration": _unbounded, "bounded OrderSource": _bounded}
    read_only = dict.fromkeys(readers, float("inf"))
    pipeline = dict.fromkeys(readers, float("inf"))
    for _ in range(ROUNDS):
        for name, reader in readers.items():
            read_only[name] = min(read_only[name], _timed(lambda r=reader: sum(1 for _ in r(orders_200k))))
            pipeline[name] = min(
                pipeline[name],
                _timed(lambda r=reader: sum(1 for _ in serialized_orders(r(orders_200k), counts=Counts()))),
            )
    for name in readers:
        print(
            f"  {name:20}: read {THROUGHPUT_ORDERS / read_only[name]:10,.0f} lines/CPU-s, "
            f"read+validate+serialize {THROUGHPUT_ORDERS / pipeline[name]:8,.0f} orders/CPU-s"
        )
    read_ratio = read_only["plain iteration"] / read_only["bounded OrderSource"]
    pipeline_ratio = pipeline["plain iteration"] / pipeline["bounded OrderSource"]
    bounded = THROUGHPUT_ORDERS / pipeline["bounded OrderSource"]
    record(
        "input", f"read + validate + serialize, {THROUGHPUT_ORDERS:,} orders", f"{bounded:,.0f} orders/CPU-s"
    )
    record("input", "bounded / plain reader, reading only", f"{read_ratio:.2f}")
    record(
        "input",
        "bounded / plain reader, read + validate + serialize",
        f"{pipeline_ratio:.2f}",
        f">= {MIN_RATIO}",
        pipeline_ratio >= MIN_RATIO,
    )
    note(
        "input: the array case reads and validates in a fresh process (peak = its ru_maxrss); reader "
        f"ratios are best-of-{ROUNDS} CPU times of one process, the two readers interleaved."
    )
    assert pipeline_ratio >= MIN_RATIO
