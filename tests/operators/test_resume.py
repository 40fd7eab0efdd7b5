from __future__ import annotations

import logging
from typing import Any

import pytest

from airflow_provider_voucherify.operators._batching import Batch
from airflow_provider_voucherify.operators._resume import KEY_PREFIX, BatchLedger


class DictStore:
    """The part of Airflow's task state store the ledger uses, kept in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.gets: list[str] = []

    def get(self, key: str, default: Any = None) -> Any:
        self.gets.append(key)
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        assert value is not None
        self.data[key] = value


def batch(number: int, body: bytes = b"[{}]") -> Batch:
    return Batch(number, body, 1, True)


def test_an_accepted_batch_is_recognised_by_its_content() -> None:
    store = DictStore()
    BatchLedger(store).record(batch(1), "aa_1")
    assert store.data[f"{KEY_PREFIX}1"] == {"fingerprint": batch(1).fingerprint, "async_action_id": "aa_1"}
    retry = BatchLedger(store)
    assert retry.accepted(batch(1)) == "aa_1"
    assert BatchLedger(store).accepted(batch(1, b'[{"changed":1}]')) is None


def test_reading_stops_at_the_first_batch_never_recorded() -> None:
    store = DictStore()
    first = BatchLedger(store)
    for number in (1, 2):
        first.record(batch(number), f"aa_{number}")
    retry = BatchLedger(store)
    assert [retry.accepted(batch(n)) for n in (1, 2, 3, 4, 5)] == ["aa_1", "aa_2", None, None, None]
    assert store.gets == [f"{KEY_PREFIX}{n}" for n in (1, 2, 3)]


def test_without_a_store_nothing_is_skipped_or_recorded() -> None:
    ledger = BatchLedger(None)
    ledger.record(batch(1), "aa_1")
    assert ledger.accepted(batch(1)) is None


@pytest.mark.parametrize(("resend_safe", "warns_of_duplicates"), [(True, False), (False, True)])
def test_a_missing_store_is_logged_once(
    caplog: pytest.LogCaptureFixture, resend_safe: bool, warns_of_duplicates: bool
) -> None:
    log = logging.getLogger("test")
    with caplog.at_level(logging.WARNING):
        ledger = BatchLedger.from_context({}, log, resend_safe=resend_safe)
        ledger.accepted(batch(1))
        ledger.record(batch(1), "aa_1")
    assert ledger.store is None
    assert len(caplog.records) == 1
    assert "source_id upserts" in caplog.text
    assert ("imported twice" in caplog.text) is warns_of_duplicates


def test_the_context_store_is_used_when_present() -> None:
    store = DictStore()
    assert (
        BatchLedger.from_context({"task_state_store": store}, logging.getLogger("t"), resend_safe=True).store
        is store
    )


def test_a_batch_whose_import_failed_is_sent_again_and_later_ones_still_skipped() -> None:
    store = DictStore()
    first = BatchLedger(store)
    for number in (1, 2, 3):
        first.record(batch(number), f"aa_{number}")
    assert first.forget_failed({"aa_2"}) == 1
    retry = BatchLedger(store)
    assert [retry.accepted(batch(n)) for n in (1, 2, 3)] == ["aa_1", None, "aa_3"]
    retry.record(batch(2), "aa_4")
    assert BatchLedger(store).accepted(batch(2)) == "aa_4"
