"""The kinds of input file that used to end wrong, through the operator against the emulator:
nothing lost, nothing silently skipped, and every error names the file."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.exceptions import InvalidOrdersFileError
from airflow_provider_voucherify.operators._task import AirflowFailException
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from tests.importing.test_ledger import DictStore
from tests.operators.conftest import order_dict
from tests.operators.test_import_orders import run, stored

SKIP = {"on_invalid": "skip", "max_invalid": 100}


def jsonl(first: int, last: int) -> bytes:
    return b"".join(json.dumps(order_dict(n)).encode() + b"\n" for n in range(first, last + 1))


def operator(path: Path, **options: Any) -> ImportOrdersOperator:
    return ImportOrdersOperator(task_id="import_orders", orders=str(path), **options)


def test_a_bz2_file_with_on_invalid_skip_is_imported(server: EmulatorServer, tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl.bz2"
    path.write_bytes(bz2.compress(jsonl(1, 5)))
    ids, summary = run(operator(path, **SKIP))
    assert (summary["valid"], summary["invalid"], summary["sent"]) == (5, 0, 5)
    assert stored(server, ids)["orders_stored"] == 5


def zipped(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("orders.jsonl", data)
    return buffer.getvalue()


@pytest.mark.parametrize("options", [{}, SKIP], ids=["fail", "skip"])
@pytest.mark.parametrize(
    ("content", "described"),
    [
        (zipped, "a zip archive"),
        (lambda data: b"\x28\xb5\x2f\xfd\x24\x00" + data, "zstd-compressed"),
    ],
    ids=["zip", "zstd"],
)
def test_a_format_not_read_fails_before_any_bulk_call_whatever_on_invalid_says(
    server: EmulatorServer, tmp_path: Path, content: Any, described: str, options: dict[str, Any]
) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_bytes(content(jsonl(1, 5)))
    with pytest.raises(AirflowFailException) as caught:
        run(operator(path, **options))
    assert isinstance(caught.value.__cause__, InvalidOrdersFileError)
    assert f"Orders file {str(path)!r} cannot be read: the file is {described}" in str(caught.value)
    assert server.stats()["imports_accepted"] == 0


def test_a_latin1_file_with_on_invalid_skip_fails_naming_the_file_the_line_and_the_encoding(
    server: EmulatorServer, tmp_path: Path
) -> None:
    accented = json.dumps(order_dict(6, customer={"source_id": "c-6", "name": "Renée"}), ensure_ascii=False)
    path = tmp_path / "export.jsonl"
    path.write_bytes(jsonl(1, 5) + accented.encode("latin-1") + b"\n" + jsonl(7, 8))
    with pytest.raises(AirflowFailException) as caught:
        run(operator(path, batch_size=2, **SKIP))
    message = str(caught.value)
    assert (
        f"Orders file {str(path)!r} cannot be read (line 6): the line is not UTF-8 text: byte 0xE9" in message
    )
    assert "Latin-1 or Windows-1252, most likely" in message
    assert "4 orders in 2 batches before it were sent" in message


def test_a_truncated_gz_names_the_file_and_what_was_sent_and_a_retry_resumes(
    server: EmulatorServer, tmp_path: Path
) -> None:
    whole = gzip.compress(jsonl(1, 400))
    path = tmp_path / "orders.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    store = DictStore()
    with pytest.raises(AirflowFailException) as caught:
        run(operator(path, batch_size=50), task_state_store=store)
    message = str(caught.value)
    assert f"Orders file {str(path)!r} cannot be read (line " in message
    assert "the gzip data ends after line" in message
    sent = server.stats()["imports_accepted"]
    assert sent >= 1
    assert f"{sent * 50} orders in {sent} batches before it were sent" in message
    assert "a retry, once the file is whole, skips them and sends the rest" in message

    path.write_bytes(whole)  # copied again, whole
    ids, summary = run(operator(path, batch_size=50), task_state_store=store)
    assert (summary["skipped_on_retry"], summary["sent"]) == (sent * 50, 400 - sent * 50)
    assert stored(server, ids)["orders_stored"] == 400
