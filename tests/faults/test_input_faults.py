"""Fault matrix, the input file: compressed otherwise than with gzip, imported with ``on_invalid="skip"``.

Read as text, such a file is lines of garbage: with ``on_invalid="skip"`` and room for invalid
records every line is a reject, nothing is sent and the run could end green. A format that is read
(bzip2, xz) imports every order; one that is not (zstd) fails before any bulk call, naming the file
and the format. Nothing is lost and nothing is skipped in silence.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.exceptions import InvalidOrdersFileError
from airflow_provider_voucherify.operators._task import AirflowFailException
from tests.airflow_helpers import point_connection
from tests.faults.matrix import ALL_SOURCE_IDS, BATCHES, Case, import_operator, run_task

IMPORT = "POST /v1/orders/import"
SKIP = {"on_invalid": "skip", "max_invalid": 100}
READ = {"bz2": bz2.compress, "xz": lzma.compress}
# A zstd frame's magic number, then what follows it: enough to be told by its first bytes.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@pytest.mark.parametrize("kind", sorted(READ))
def test_a_bz2_or_xz_file_with_on_invalid_skip_imports_every_order(
    kind: str, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, orders_path: Path, tmp_path: Path
) -> None:
    case = Case(f"{kind} file with on_invalid=skip")
    point_connection(monkeypatch, emulator)
    path = tmp_path / "orders.jsonl"  # the name does not say it: the first bytes do
    path.write_bytes(READ[kind](gzip.decompress(orders_path.read_bytes())))

    ids = run_task(import_operator(path, **SKIP))

    assert len(ids) == BATCHES
    case.outcome = "success"
    case.note = f"read as {'bzip2' if kind == 'bz2' else kind}, told by its first bytes; 0 rejects"
    case.record(emulator, ALL_SOURCE_IDS, batches=BATCHES)


def test_a_zstd_file_with_on_invalid_skip_fails_before_any_bulk_call(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, orders_path: Path, tmp_path: Path
) -> None:
    case = Case("zstd file with on_invalid=skip")
    point_connection(monkeypatch, emulator)
    path = tmp_path / "orders.jsonl.zst"
    path.write_bytes(ZSTD_MAGIC + orders_path.read_bytes())

    with pytest.raises(AirflowFailException, match="the file is zstd-compressed") as failure:
        run_task(import_operator(path, **SKIP))
    assert isinstance(failure.value.__cause__, InvalidOrdersFileError)  # not retried
    assert repr(str(path)) in str(failure.value)

    assert IMPORT not in emulator.stats()["requests"]
    case.outcome = "failed before sending, names the file and the format"
    case.note = "0 bulk calls"
    case.record(emulator, set(), batches=0)
