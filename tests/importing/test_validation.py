from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath
from pytest_mock import MockerFixture

from airflow_provider_voucherify.exceptions import InvalidOrderError
from airflow_provider_voucherify.importing.batching import batches
from airflow_provider_voucherify.importing.rejects import RejectsFile, rejects_location
from airflow_provider_voucherify.importing.validation import (
    MAX_ORDER_BYTES,
    Counts,
    SourceIdsInBatch,
    serialized_orders,
)
from airflow_provider_voucherify.models import Order
from tests.operators.conftest import assert_no_personal_data, order_dict


def lines(*records: dict[str, Any] | str) -> list[tuple[int, bytes]]:
    return [
        (number, (record if isinstance(record, str) else json.dumps(record)).encode())
        for number, record in enumerate(records, start=1)
    ]


def run(records: Any, **options: Any) -> tuple[list[tuple[bytes, bool]], Counts]:
    counts = Counts()
    return list(serialized_orders(records, counts=counts, **options)), counts


BAD_QUANTITY = order_dict(2, items=[{"source_id": "sku-1", "related_object": "sku", "quantity": 0}])


def test_valid_records_are_serialized_once_without_nulls() -> None:
    out, counts = run(lines(order_dict(1), order_dict(2)))
    assert counts == Counts(read=2, valid=2, invalid=0)
    body, has_source_id = out[0]
    assert has_source_id
    order = json.loads(body)
    assert order["source_id"] == "ord-0000001"
    assert "id" not in order


def test_created_at_moves_into_metadata_as_iso_8601() -> None:
    out, _ = run(lines(order_dict(1, metadata={"channel": "web"})))
    order = json.loads(out[0][0])
    assert "created_at" not in order
    assert order["metadata"] == {"channel": "web", "original_created_at": "2021-03-04T05:06:07.000Z"}


def test_created_at_key_is_configurable_and_none_drops_it() -> None:
    out, _ = run(lines(order_dict(1)), created_at_metadata_key="placed_at")
    assert json.loads(out[0][0])["metadata"] == {"placed_at": "2021-03-04T05:06:07.000Z"}
    out, _ = run(lines(order_dict(1)), created_at_metadata_key=None)
    assert "metadata" not in json.loads(out[0][0])


def test_orders_given_as_models_are_not_modified() -> None:
    original = Order.model_validate(order_dict(1))
    out, _ = run([(1, original), (2, order_dict(2))])
    assert original.created_at is not None
    assert original.metadata is None
    assert json.loads(out[0][0])["metadata"]["original_created_at"].startswith("2021-03-04")


def test_fail_policy_raises_on_the_first_invalid_record_with_its_location() -> None:
    with pytest.raises(InvalidOrderError) as error:
        run(lines(order_dict(1), BAD_QUANTITY, {"broken": True}))
    assert error.value.line == 2
    assert error.value.source_id == "ord-0000002"
    assert error.value.errors[0][0] == ".items[0].quantity"
    assert "line 2" in str(error.value)
    assert ".items[0].quantity" in str(error.value)
    assert_no_personal_data(str(error.value))


@pytest.mark.parametrize(
    ("record", "path", "reason"),
    [
        ("not json at all", "", "Invalid JSON"),
        ('{"source_id": "x", "amount": ', "", "Invalid JSON"),
        ("[1, 2]", "", "should be an object"),
        ({"amount": 1}, ".source_id", "required"),
        (order_dict(3, colour="red"), ".colour", "unknown field"),
    ],
)
def test_records_that_are_not_orders_are_invalid_not_tracebacks(
    record: dict[str, Any] | str, path: str, reason: str
) -> None:
    with pytest.raises(InvalidOrderError) as error:
        run(lines(record))
    assert error.value.errors[0][0] == path
    assert reason in error.value.errors[0][1]


def test_source_id_can_be_optional() -> None:
    out, _ = run(lines({"amount": 1}), require_source_id=False)
    assert out == [(b'{"amount":1}', False)]


def test_an_order_too_big_for_any_import_is_invalid() -> None:
    huge = order_dict(1, metadata={"blob": "x" * MAX_ORDER_BYTES})
    with pytest.raises(InvalidOrderError, match="more than one import takes"):
        run(lines(huge))


def test_skip_policy_writes_each_reject_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "out" / "rejects.jsonl"
    records = lines(order_dict(1), BAD_QUANTITY, "{not json", order_dict(4), {"amount": -1})
    with RejectsFile(path) as rejects:
        out, counts = run(records, on_invalid="skip", max_invalid=3, rejects=rejects)
    assert counts == Counts(read=5, valid=2, invalid=3)
    assert [json.loads(body)["source_id"] for body, _ in out] == ["ord-0000001", "ord-0000004"]
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert entries == [
        {
            "line": 2,
            "source_id": "ord-0000002",
            "errors": [
                {"path": ".items[0].quantity", "reason": "Input should be greater than or equal to 1"}
            ],
        },
        {"line": 3, "source_id": None, "errors": [entries[1]["errors"][0]]},
        {
            "line": 5,
            "source_id": None,
            "errors": [{"path": ".amount", "reason": "Input should be greater than or equal to 0"}],
        },
    ]
    assert entries[1]["errors"][0]["path"] == ""
    assert entries[1]["errors"][0]["reason"].startswith("Invalid JSON")
    assert_no_personal_data(path.read_text())


def test_skip_policy_stops_at_the_record_that_passes_max_invalid(tmp_path: Path) -> None:
    records = lines(BAD_QUANTITY, order_dict(2), {"amount": -1}, order_dict(4))
    counts = Counts()
    valid = serialized_orders(records, counts=counts, on_invalid="skip", max_invalid=1)
    assert next(valid)[1] is True
    with pytest.raises(InvalidOrderError) as error:
        next(valid)
    assert error.value.line == 3
    assert "more than max_invalid=1" in str(error.value)
    assert ".amount" in str(error.value)
    assert counts == Counts(read=3, valid=1, invalid=2)  # line 4 was never read


def test_rejects_can_go_to_object_storage(memory_storage: str) -> None:
    location = ObjectStoragePath(f"{memory_storage}/rejects.jsonl")
    with RejectsFile(location) as rejects:
        run(lines(BAD_QUANTITY), on_invalid="skip", max_invalid=5, rejects=rejects)
    assert json.loads(location.read_text())["line"] == 1


def _error(line: int) -> InvalidOrderError:
    return InvalidOrderError([(".amount", "bad")], line=line, source_id=f"ord-{line}")


def _continue_rejects(location: Any) -> list[int]:
    """A first try lists lines 2, 5 and 9; a try continuing at line 5 lists 5, 9 and 12 again."""
    with RejectsFile(location) as first:
        for line in (2, 5, 9):
            first.write(_error(line))
    with RejectsFile(location, from_line=5) as continued:
        for line in (5, 9, 12):
            continued.write(_error(line))
    return [json.loads(entry)["line"] for entry in location.read_text().splitlines()]


def test_a_continuing_try_keeps_the_rejects_before_its_line_and_lists_the_rest_once(tmp_path: Path) -> None:
    assert _continue_rejects(tmp_path / "rejects.jsonl") == [2, 5, 9, 12]
    assert _continue_rejects(tmp_path / "new" / "rejects.jsonl") == [2, 5, 9, 12]


def test_a_continuing_try_writes_rejects_to_a_store_that_cannot_append(
    memory_storage: str, mocker: MockerFixture
) -> None:
    opened = ObjectStoragePath.open

    def open_without_append(self: ObjectStoragePath, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "a" in mode:  # like S3 or GCS
            raise NotImplementedError("this store cannot append")
        return opened(self, mode, *args, **kwargs)

    mocker.patch.object(ObjectStoragePath, "open", open_without_append)
    location = ObjectStoragePath(f"{memory_storage}/continued/rejects.jsonl")

    assert _continue_rejects(location) == [2, 5, 9, 12]


def test_writing_rejects_requires_entering_the_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="entered"):
        RejectsFile(tmp_path / "r.jsonl").write(InvalidOrderError([("", "x")]))


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), ("  ", None), ("/r.jsonl", "/r.jsonl")]
)
def test_rejects_location_treats_an_empty_rendering_as_unset(value: str | None, expected: str | None) -> None:
    assert rejects_location(value) == expected


def test_rejects_location_refuses_other_types() -> None:
    with pytest.raises(TypeError):
        rejects_location(42)  # type: ignore[arg-type]


def test_a_repeated_source_id_in_the_same_batch_is_a_reject_naming_the_earlier_line() -> None:
    in_batch = SourceIdsInBatch()
    records = lines(order_dict(1), order_dict(2), order_dict(1, status="CANCELED"))
    with pytest.raises(InvalidOrderError) as caught:
        run(records, in_batch=in_batch)
    assert caught.value.line == 3
    ((path, reason),) = caught.value.errors
    assert path == ".source_id"
    assert "the same source_id as line 1" in reason


def test_a_repeated_source_id_in_a_later_batch_is_sent_after_the_earlier() -> None:
    in_batch = SourceIdsInBatch(batch_size=2)
    records = lines(order_dict(1), order_dict(2), order_dict(1, status="CANCELED"), order_dict(3))
    counts = Counts()
    valid = serialized_orders(records, counts=counts, in_batch=in_batch)
    cut = list(batches(valid, batch_size=2, on_cut=in_batch.batch_cut))
    assert [batch.count for batch in cut] == [2, 2]
    assert [order["source_id"] for order in json.loads(cut[1].body)] == ["ord-0000001", "ord-0000003"]
    assert counts == Counts(read=4, valid=4, invalid=0)


def test_with_skip_a_repeated_source_id_is_listed_and_the_rest_goes_on(tmp_path: Path) -> None:
    records = lines(order_dict(1), order_dict(1), order_dict(2))
    with RejectsFile(tmp_path / "rejects.jsonl") as rejects:
        out, _ = run(records, on_invalid="skip", max_invalid=5, rejects=rejects, in_batch=SourceIdsInBatch())
    assert [json.loads(body)["source_id"] for body, _ in out] == ["ord-0000001", "ord-0000002"]
    (entry,) = [json.loads(text) for text in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert entry["line"] == 2
    assert "line 1" in entry["errors"][0]["reason"]
