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
from tests.operators.test_import_orders import FakeTI, run, stored

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


# -- nothing valid, and what the log says of refused records --------------------------------------


def refunds(path: Path, count: int = 8) -> Path:
    """Orders the import refuses (a negative amount), around none it takes."""
    path.write_bytes(
        b"".join(json.dumps(order_dict(n, amount=-n)).encode() + b"\n" for n in range(1, count + 1))
    )
    return path


def test_a_run_that_read_orders_and_found_none_valid_fails_with_on_invalid_skip(
    server: EmulatorServer, tmp_path: Path
) -> None:
    with pytest.raises(
        AirflowFailException,
        match=r"all 8 records read were invalid \(each listed in .*rejects.jsonl\): nothing was sent",
    ):
        run(operator(refunds(tmp_path / "o.jsonl"), rejects_path=str(tmp_path / "rejects.jsonl"), **SKIP))
    assert server.stats()["total_requests"] == 0


def test_an_empty_file_is_a_warning_not_an_error(
    server: EmulatorServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "o.jsonl"
    path.write_bytes(b"\n")
    ids, summary = run(operator(path))
    assert (ids, summary["read"]) == ([], 0)
    assert "The orders hold no record: nothing was sent" in "".join(capfd.readouterr())


def test_the_log_names_the_rejects_file_and_the_first_refused_lines_with_their_reasons(
    server: EmulatorServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "o.jsonl"
    path.write_bytes(jsonl(1, 2) + refunds(tmp_path / "bad.jsonl").read_bytes())
    rejects = tmp_path / "rejects.jsonl"
    run(operator(path, rejects_path=str(rejects), **SKIP))
    told = [line for line in "".join(capfd.readouterr()).splitlines() if "invalid records, each" in line]
    assert len(told) == 1
    assert f"8 invalid records, each listed in {rejects}. Refused (the first 5): " in told[0]
    for line in range(3, 8):
        assert f"[Invalid order (line {line}, source_id='ord-{line - 2:07d}'): .amount: " in told[0]
    assert "line 8," not in told[0]


def test_a_dry_run_reads_the_whole_file_and_reports_every_problem_past_max_invalid(
    server: EmulatorServer, tmp_path: Path
) -> None:
    path = tmp_path / "o.jsonl"
    path.write_bytes(jsonl(1, 2) + refunds(tmp_path / "bad.jsonl").read_bytes() + jsonl(11, 12))
    rejects = tmp_path / "rejects.jsonl"
    ti = FakeTI()
    dry = operator(path, dry_run=True, rejects_path=str(rejects), on_invalid="skip", max_invalid=2)
    with pytest.raises(AirflowFailException) as caught:
        dry.execute({"ti": ti})  # type: ignore[arg-type]
    report = ti.xcom["import_summary"]
    assert (report["read"], report["valid"], report["invalid"]) == (12, 4, 8)
    assert len(rejects.read_text().splitlines()) == 8
    assert "Invalid order (line 5): a real run would stop here (max_invalid=2)" in str(caught.value)
    assert "8 invalid records in all" in str(caught.value)
    assert server.stats()["imports_accepted"] == 0
