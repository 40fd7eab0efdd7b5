"""The emulator's Exports API over real HTTP: create, statuses, filters, order, CSV, faults, downloads."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, free_port, wait_for_actions
from tests.emulator.helpers import order, orders, post_import

FINAL = ("SCHEDULED", "IN_PROGRESS")


def imported(server: EmulatorServer, body: list[dict[str, Any]]) -> None:
    with server.client() as client:
        action_id = post_import(client, body)
    assert wait_for_actions(server, [action_id])[action_id]["status"] == "DONE"


def create(client: httpx.Client, exported_object: str = "order", **parameters: Any) -> dict[str, Any]:
    response = client.post("/v1/exports", json={"exported_object": exported_object, "parameters": parameters})
    assert response.status_code == 200, response.text
    export: dict[str, Any] = response.json()
    return export


def finished(
    client: httpx.Client, export_id: str, deadline_s: float = 30.0
) -> tuple[dict[str, Any], list[str]]:
    """Poll until the export leaves SCHEDULED / IN_PROGRESS; returns it and every status seen."""
    seen: list[str] = []
    deadline = time.monotonic() + deadline_s
    while True:
        export: dict[str, Any] = client.get(f"/v1/exports/{export_id}").raise_for_status().json()
        if not seen or seen[-1] != export["status"]:
            seen.append(export["status"])
        if export["status"] not in FINAL:
            return export, seen
        assert time.monotonic() < deadline, f"export {export_id} still {export['status']}"
        time.sleep(0.02)  # poll interval


def rows(client: httpx.Client, export: dict[str, Any]) -> list[list[str]]:
    response = client.get(export["result"]["url"])
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.text, newline="")))


def test_an_order_export_is_scheduled_then_done_with_the_requested_columns_in_order(
    emulator: EmulatorServer,
) -> None:
    imported(emulator, [order("o-1", metadata={"channel": "web"}), order("o-2", status="CREATED", amount=5)])
    fields = ["status", "source_id", "metadata.channel", "amount", "id"]
    with emulator.client() as client:
        export = create(client, fields=fields)
        assert (export["status"], export["result"], export["exported_object"]) == ("SCHEDULED", None, "order")
        done, _ = finished(client, export["id"])
        table = rows(client, done)
    assert done["status"] == "DONE"
    assert done["parameters"]["fields"] == fields
    assert table[0] == fields
    assert [row[:4] for row in table[1:]] == [["PAID", "o-1", "web", "2000"], ["CREATED", "o-2", "", "5"]]
    assert all(row[4].startswith("ord_") for row in table[1:])


def test_without_fields_an_export_writes_the_spec_default_fields(emulator: EmulatorServer) -> None:
    imported(emulator, [order("o-1", customer={"source_id": "c-1", "name": "Ann"})])
    with emulator.client() as client:
        order_rows = rows(client, finished(client, create(client)["id"])[0])
        customer_rows = rows(client, finished(client, create(client, "customer")["id"])[0])
    assert order_rows[0] == ["id", "source_id", "status"]
    assert customer_rows == [["name", "source_id"], ["Ann", "c-1"]]


def test_values_are_written_with_the_csv_module_quoting(emulator: EmulatorServer) -> None:
    awkward = 'a, "quoted"\nline'
    imported(emulator, [order("o-1", metadata={"note": awkward, "ratio": 2.5, "flag": True, "tags": ["x"]})])
    fields = [
        "source_id",
        "metadata.note",
        "metadata.ratio",
        "metadata.flag",
        "metadata.tags",
        "metadata.none",
    ]
    with emulator.client() as client:
        table = rows(client, finished(client, create(client, fields=fields)["id"])[0])
    assert table[1] == ["o-1", awkward, "2.5", "true", '["x"]', ""]


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=timezone.utc).isoformat(timespec="milliseconds")


def test_created_at_filters_and_the_junction_select_the_orders(emulator: EmulatorServer) -> None:
    imported(emulator, orders("early", 3))
    between = _iso(time.time())
    imported(emulator, orders("late", 2))

    def selected(filters: dict[str, Any]) -> list[str]:
        with emulator.client() as client:
            export = create(client, fields=["source_id"], filters=filters)
            return [row[0] for row in rows(client, finished(client, export["id"])[0])[1:]]

    after = {"conditions": {"$after": [between]}}
    before = {"conditions": {"$before": [between]}}
    assert selected({"junction": "and", "created_at": after}) == ["late-0", "late-1"]
    assert selected({"junction": "and", "created_at": before}) == ["early-0", "early-1", "early-2"]
    assert (
        selected(
            {"junction": "and", "created_at": {"conditions": {**after["conditions"], **before["conditions"]}}}
        )
        == []
    )
    assert len(selected({"junction": "or", "created_at": after, "updated_at": before})) == 2
    far = {"conditions": {"$after": ["2000-01-01"], "$before": ["2999-01-01T00:00:00Z"]}}
    assert len(selected({"created_at": far})) == 5


def test_order_sorts_the_rows(emulator: EmulatorServer) -> None:
    imported(emulator, orders("a", 2))
    imported(emulator, [order("b-0", status="CANCELED")])
    with emulator.client() as client:
        newest = create(client, fields=["source_id"], order="-created_at")
        by_status = create(client, fields=["source_id"], order="status")
        assert [row[0] for row in rows(client, finished(client, newest["id"])[0])[1:]] == [
            "b-0",
            "a-1",
            "a-0",
        ]
        assert rows(client, finished(client, by_status["id"])[0])[1][0] == "b-0"


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (
            {"exported_object": "order", "parameters": {"fields": ["source_id", "nope"]}},
            "invalid_export_fields",
        ),
        ({"exported_object": "coupon"}, "invalid_payload"),
        ({"exported_object": "order", "parameters": {"order": "amount"}}, "invalid_payload"),
        ({"exported_object": "order", "parameters": {"filters": {"junction": "xor"}}}, "invalid_payload"),
        (
            {
                "exported_object": "order",
                "parameters": {"filters": {"created_at": {"conditions": {"$after": "x"}}}},
            },
            "invalid_payload",
        ),
        (
            {
                "exported_object": "order",
                "parameters": {"filters": {"status": {"conditions": {"$in": ["PAID"]}}}},
            },
            "invalid_payload",
        ),
    ],
    ids=["unknown-field", "unknown-object", "bad-order", "bad-junction", "bad-date", "not-emulated-filter"],
)
def test_what_the_api_refuses_is_a_400_with_its_key(emulator: EmulatorServer, body: Any, key: str) -> None:
    with emulator.client() as client:
        response = client.post("/v1/exports", json=body)
    assert response.status_code == 400
    assert response.json()["key"] == key
    assert response.json()["request_id"].startswith("v-")


def test_the_download_needs_the_export_token(emulator: EmulatorServer) -> None:
    imported(emulator, orders("o", 1))
    with emulator.client() as client:
        done, _ = finished(client, create(client)["id"])
        url = httpx.URL(done["result"]["url"])
        assert client.get(url.copy_remove_param("token")).json()["status"] == "DONE"  # a plain GET
        for token in ("", "wrong"):
            refused = client.get(url.copy_set_param("token", token))
            assert refused.status_code == 401
            assert refused.json()["key"] == "unauthorized"
        assert client.get(url).status_code == 200
        assert client.get("/v1/exports/exp_unknown").status_code == 404


def test_labels_in_the_header_row_when_asked(emulator: EmulatorServer) -> None:
    imported(emulator, orders("o", 1))
    emulator.set_faults(export_header="labels")
    with emulator.client() as client:
        table = rows(
            client,
            finished(client, create(client, fields=["id", "source_id", "metadata.created_at"])["id"])[0],
        )
    assert table[0] == ["ID", "Source ID", "Metadata Created At"]
    assert table[1][1] == "o-0"


@pytest.mark.parametrize("final_status", ["ERROR", "CANCELED"])
def test_a_fault_ends_exports_with_another_status_and_no_file(
    emulator: EmulatorServer, final_status: str
) -> None:
    emulator.set_faults(export_status=final_status)
    with emulator.client() as client:
        export, seen = finished(client, create(client)["id"])
    assert export["status"] == final_status
    assert export["result"] is None
    assert seen[-1] == final_status


def test_export_calls_are_ordinary_calls_counted_by_the_rate_limiter(emulator: EmulatorServer) -> None:
    emulator.set_faults(rate_limit_per_minute=2)
    with emulator.client() as client:
        export = create(client)
        assert client.get(f"/v1/exports/{export['id']}").status_code == 200
        limited = client.get(f"/v1/exports/{export['id']}")
    assert limited.status_code == 429
    assert limited.headers["x-rate-limit-type"] == "api_calls"
    requests = emulator.stats()["requests"]
    assert requests["POST /v1/exports"] == {"200": 1}
    assert requests["GET /v1/exports/{id}"] == {"200": 1, "429": 1}


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """Exports take 1 emulated s SCHEDULED and 1 emulated s per 50 rows, at 2 emulated s per real s;
    downloads come from a second port, under the host name ``localhost``."""
    with EmulatorServer(
        tmp_path_factory.mktemp("exports-slow"),
        orders_per_second=0,
        export_rows_per_second=50,
        export_overhead=1,
        time_scale=2,
        download_port=free_port(),
    ) as server:
        yield server


def test_an_export_takes_time_in_proportion_to_its_size(slow_server: EmulatorServer) -> None:
    slow_server.reset()
    imported(slow_server, orders("o", 100))
    durations = []
    with slow_server.client() as client:
        for filters in ({}, {"created_at": {"conditions": {"$before": ["2000-01-01T00:00:00Z"]}}}):
            started = time.monotonic()
            export, seen = finished(client, create(client, filters=filters)["id"])
            durations.append(time.monotonic() - started)
            assert seen[0] in ("SCHEDULED", "IN_PROGRESS")
            assert export["status"] == "DONE"
    # 100 rows: 0.5 real s scheduled + 1 real s of rows; no row: the 0.5 s scheduled only.
    assert durations[0] >= 1.5
    assert 0.5 <= durations[1] < durations[0]


def test_a_second_port_serves_downloads_under_another_host_name(slow_server: EmulatorServer) -> None:
    slow_server.reset()
    imported(slow_server, orders("o", 2))
    with slow_server.client() as client:
        done, _ = finished(client, create(client, fields=["source_id"])["id"])
    url = httpx.URL(done["result"]["url"])
    assert url.host == "localhost"
    assert url.port != slow_server.port
    plain = httpx.get(url)  # no App Id / Token: the token in the URL is enough
    assert plain.status_code == 200
    assert plain.text.split() == ["source_id", "o-0", "o-1"]
    assert httpx.get(url.copy_remove_param("token")).status_code == 401
    wrong = httpx.get(url, headers={"X-App-Id": slow_server.app_id, "X-App-Token": "not-it"})
    assert wrong.status_code == 401
    assert httpx.get(url, headers=slow_server.headers).status_code == 200
    downloads = slow_server.stats()["downloads"]
    assert downloads == {"requests": 4, "with_app_token": 2, "refused": 2, "by_host": {"localhost": 4}}


def test_an_export_unfinished_when_the_emulator_died_is_written_after_its_restart(tmp_path: Path) -> None:
    with EmulatorServer(tmp_path, orders_per_second=0, export_overhead=2) as server:
        imported(server, orders("o", 3))
        with server.client() as client:
            export_id = create(client)["id"]
        server.kill()  # before the export's writer started (it waits 2 s SCHEDULED)
        server.start()
        with server.client() as client:
            export, _ = finished(client, export_id)
            assert export["status"] == "DONE"
            assert len(rows(client, export)) == 4
