"""Input that real warehouses produce: each case with what the provider must do with it.

One test per kind of input tried as a new user would, with files exported from ordinary tools:
accepted as the API accepts it, refused early where the API would refuse it, with a fix.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.example.transform import orders_from_rows
from airflow_provider_voucherify.exceptions import InvalidOrderError, InvalidOrdersFileError
from airflow_provider_voucherify.hooks._config import ClientSettings, ConnectionConfigError, resolve_base_url
from airflow_provider_voucherify.importing.source import READ_BUFFER, OrderSource
from airflow_provider_voucherify.models import MAX_IMPORT_BYTES, parse_order
from airflow_provider_voucherify.operators._task import AirflowFailException
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from tests.airflow_helpers import point_connection


class FakeTI:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def import_file(path: Path, **options: Any) -> list[str]:
    operator = ImportOrdersOperator(task_id="import_orders", orders=str(path), **options)
    return operator.execute({"ti": FakeTI()})  # type: ignore[arg-type]


def test_an_integral_float_amount_is_the_integer(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pandas writes nullable integer columns as 1999.0; JSON (and the API) read it as 1999."""
    line = '{"source_id":"ORD-F1","status":"PAID","amount":1999.0}'
    assert json.loads(parse_order(line).to_json())["amount"] == 1999
    point_connection(monkeypatch, emulator)
    path = emulator.directory / "pandas.jsonl"
    path.write_text(line + "\n")
    wait_for_actions(emulator, import_file(path))
    with emulator.client() as client:
        assert client.get("/v1/orders/ORD-F1").json()["amount"] == 1999
        # The emulator reads the float the same way when it is sent as is.
        response = client.post("/v1/orders/import", content=f"[{line}]".encode())
        assert response.status_code == 200, response.text


def test_a_fractional_amount_is_refused_with_the_fix() -> None:
    with pytest.raises(InvalidOrderError) as caught:
        parse_order({"source_id": "o", "amount": 12.99})
    ((path, reason),) = caught.value.errors
    assert path == ".amount"
    assert "amounts are integers in the smallest currency unit: 12.99 → 1299" in reason


def test_postgresql_timestamptz_text_is_a_date() -> None:
    order = parse_order({"source_id": "o", "created_at": "2024-01-15 10:00:00+00"})
    assert order.move_created_at().metadata == {"original_created_at": "2024-01-15T10:00:00.000Z"}


def test_a_non_iso_date_is_refused_saying_iso_8601_is_expected() -> None:
    with pytest.raises(InvalidOrderError) as caught:
        parse_order({"source_id": "o", "created_at": "01/05/2023"})
    ((path, reason),) = caught.value.errors
    assert path == ".created_at"
    assert "ISO 8601 is expected" in reason


def test_the_metadata_date_has_the_form_the_api_documents() -> None:
    order = parse_order({"source_id": "o", "created_at": "2021-03-04T05:06:07.123456+00:00"})
    assert order.move_created_at().metadata == {"original_created_at": "2021-03-04T05:06:07.123Z"}


@pytest.mark.parametrize("host", ["https://api.voucherify.io/v1", "https://api.voucherify.io/v1/"])
def test_a_host_with_the_api_path_is_the_base_url(host: str) -> None:
    assert resolve_base_url(host) == "https://api.voucherify.io"


@pytest.mark.parametrize("options", [{"on_invalid": "fail"}, {"on_invalid": "skip", "max_invalid": 100}])
def test_a_pretty_printed_json_array_fails_at_once(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, options: dict[str, Any]
) -> None:
    point_connection(monkeypatch, emulator)
    path = tmp_path / "orders.json"
    path.write_text(json.dumps([{"source_id": "a"}, {"source_id": "b"}], indent=2))
    # Fails the task at once, without retries, whatever on_invalid says.
    with pytest.raises(
        AirflowFailException, match="this file is a JSON array; one order per line"
    ) as failure:
        import_file(path, **options)
    assert isinstance(failure.value.__cause__, InvalidOrdersFileError)
    assert emulator.stats()["orders_received"] == 0


def test_a_minified_48_mb_array_fails_after_reading_at_most_10_mib(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    order = json.dumps({"source_id": "x" * 40, "status": "PAID", "amount": 100, "metadata": {"k": "v" * 400}})
    with path.open("w") as out:
        out.write("[" + ",".join([order] * (48_000_000 // len(order))) + "]")
    with OrderSource(path) as source:
        with pytest.raises(InvalidOrdersFileError, match="JSON array") as caught:
            list(source)
        read = (source.fraction_read() or 0) * path.stat().st_size
    assert caught.value.line == 1
    assert read <= MAX_IMPORT_BYTES + READ_BUFFER


def test_a_line_longer_than_one_import_stops_the_reading(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    big = json.dumps({"source_id": "big", "metadata": {"k": "v" * (MAX_IMPORT_BYTES + 10)}})
    path.write_text('{"source_id": "ok"}\n' + big + "\n" + '{"source_id": "never-read"}\n')
    with OrderSource(path) as source:
        records = iter(source)
        assert next(records)[0] == 1
        with pytest.raises(InvalidOrdersFileError, match="longer than 10485760 bytes") as caught:
            next(records)
        read = (source.fraction_read() or 0) * path.stat().st_size
    assert caught.value.line == 2
    assert read <= 2 * MAX_IMPORT_BYTES  # stopped inside the long line, not at its end


def test_a_numeric_warehouse_row_becomes_a_valid_order() -> None:
    row = {
        "order_source_id": 17,
        "order_amount": Decimal("39.98"),
        "order_created_at": "2024-01-15 10:00:00+00",
        "customer_source_id": "c-1",
        "customer_phone": Decimal("48600700800"),
        "customer_postal_code": 12345,
        "product_source_id": "p-1",
        "quantity": Decimal("2"),
        "unit_price": Decimal("19.99"),
    }
    (order,) = orders_from_rows([row])
    line = json.dumps(order)  # was: TypeError, Decimal is not JSON serializable
    assert order["items"] == [
        {"source_id": "p-1", "related_object": "product", "quantity": 2, "price": 1999, "amount": 3998,
         "product": {"source_id": "p-1", "override": True}}
    ]  # fmt: skip
    assert order["customer"]["phone"] == "48600700800"
    assert order["customer"]["address"] == {"postal_code": "12345"}
    parse_order(line, require_source_id=True)


@pytest.mark.parametrize(
    ("extra", "field"), [({"timeout": 0}, "timeout"), ({"max_retries": 2.7}, "max_retries")]
)
def test_bad_connection_extras_are_refused_naming_the_field(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(ConnectionConfigError, match=f"Connection extra '{field}'"):
        ClientSettings.from_connection(host="api", port=None, login="a", password="t", extra=extra)


def test_a_mistyped_connection_extra_is_named_in_a_warning() -> None:
    settings = ClientSettings.from_connection(
        host="api", port=None, login="a", password="t", extra={"max_retry": 3}
    )
    assert settings.unknown_extras is not None
    assert "'max_retry'" in settings.unknown_extras


# -- the API's own rules ------------------------------------------------------------------------


def test_an_item_source_id_needs_related_object(emulator: EmulatorServer) -> None:
    record = {"source_id": "o", "items": [{"quantity": 1}, {"source_id": "sku-1", "quantity": 1}]}
    with pytest.raises(InvalidOrderError) as caught:
        parse_order(record)
    assert caught.value.errors[0][0] == ".items[1].related_object"
    with emulator.client() as client:
        response = client.post("/v1/orders/import", json=[record])
    assert response.status_code == 400
    assert response.json()["details"].startswith("Property .items[1].related_object is required")


def test_a_top_level_customer_id_is_refused_with_the_fix(emulator: EmulatorServer) -> None:
    record = {"source_id": "o", "customer_id": "cust_1"}
    with pytest.raises(InvalidOrderError) as caught:
        parse_order(record)
    ((path, reason),) = caught.value.errors
    assert path == ".customer_id"
    assert '"customer": {"id": ...}' in reason
    with emulator.client() as client:
        assert client.post("/v1/orders/import", json=[record]).status_code == 400


def test_the_emulator_and_the_client_agree_on_amounts(emulator: EmulatorServer) -> None:
    cases: list[tuple[Any, bool]] = [(1999, True), (1999.0, True), (1e3, True), (12.99, False), (True, False)]
    with emulator.client() as client:
        for amount, valid in cases:
            record = {"source_id": "o", "amount": amount}
            response = client.post("/v1/orders/import", json=[record])
            assert (response.status_code == 200) is valid, (amount, response.text)
            try:
                parse_order(record)
            except InvalidOrderError:
                assert not valid, amount
            else:
                assert valid, amount
