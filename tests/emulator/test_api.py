"""The API's answers over real HTTP: auth, limits, error bodies, imports, lookups and lists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from tests.emulator.helpers import import_and_wait, order, orders, post_import

REQUEST_ID = re.compile(r"^v-[0-9a-f]{18}$")


def assert_api_error(response: httpx.Response, status: int, key: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    assert body["key"] == key
    assert REQUEST_ID.match(body["request_id"])
    assert response.headers["x-request-id"] == body["request_id"]
    return dict(body)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-App-Id": "emulator-app-id"},
        {"X-App-Id": "emulator-app-id", "X-App-Token": "wrong"},
        {"X-App-Id": "someone-else", "X-App-Token": "emulator-app-token"},
    ],
    ids=["no-headers", "no-token", "wrong-token", "unknown-app"],
)
def test_missing_or_wrong_credentials_get_401(emulator: EmulatorServer, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=emulator.url, headers=headers) as client:
        for response in (
            client.get("/v1/async-actions"),
            client.post("/v1/orders/import", json=[order("a")]),
        ):
            body = assert_api_error(response, 401, "unauthorized")
            assert body["message"] == "Unauthorized"
            assert "emulator-app-token" not in response.text
    assert emulator.stats()["imports_accepted"] == 0


def test_import_is_accepted_and_done(emulator: EmulatorServer) -> None:
    with emulator.client() as client:
        response = client.post("/v1/orders/import", json=orders("ok", 3))
        assert response.status_code == 200
        action_id = response.json()["async_action_id"]
        assert re.match(r"^aa_[0-9a-f]{18}$", action_id)
        assert REQUEST_ID.match(response.headers["x-request-id"])
    action = wait_for_actions(emulator, [action_id])[action_id]
    assert action["status"] == "DONE"
    assert action["progress"] == 100
    assert action["type"] == "ORDERS.IMPORT"
    assert action["object"] == "async_action"
    assert action["request_id"] == response.headers["x-request-id"]
    assert action["result"] == {
        "message": "3 order(s) imported successfully, 0 failed.",
        "done_count": 3,
        "failed_count": 0,
        "failed": [],
    }


def test_more_than_2000_orders_is_refused(emulator: EmulatorServer) -> None:
    with emulator.client() as client:
        body = assert_api_error(
            client.post("/v1/orders/import", json=orders("big", 2001)), 400, "invalid_payload"
        )
        assert "2000" in str(body["details"])
        assert client.post("/v1/orders/import", json=orders("max", 2000)).status_code == 200
    assert emulator.stats()["imports_accepted"] == 1


def test_body_over_10_mib_gets_413_in_its_own_shape(emulator: EmulatorServer) -> None:
    padding = "x" * 6000
    big = [order(f"o-{index}", metadata={"padding": padding}) for index in range(1800)]
    raw = json.dumps(big).encode()
    assert len(raw) > 10 * 1024 * 1024
    with emulator.client() as client:
        response = client.post("/v1/orders/import", content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.json() == {
            "statusCode": 413,
            "error": "Request Entity Too Large",
            "message": "Payload content length greater than maximum allowed: 10485760",
        }
        # Exactly 10 MiB is still allowed: pad one order's metadata up to the limit.
        fitted = big[:1]
        fitted[0]["metadata"]["padding"] = ""
        fitted[0]["metadata"]["padding"] = "x" * (10 * 1024 * 1024 - len(json.dumps(fitted).encode()))
        exact = json.dumps(fitted).encode()
        assert len(exact) == 10 * 1024 * 1024
        response = client.post(
            "/v1/orders/import", content=exact, headers={"content-type": "application/json"}
        )
        assert response.status_code == 200, response.text
    assert emulator.stats()["imports_accepted"] == 1


@pytest.mark.parametrize(
    ("bad_order", "details"),
    [
        ({"items": [{"quantity": 0}]}, "Property .items[0].quantity cannot be lower than 1"),
        ({"amount": 12.5}, "Property .amount should be integer"),
        ({"amount": "100"}, "Property .amount should be integer"),
        ({"amount": True}, "Property .amount should be integer"),
        ({"amount": -1}, "Property .amount cannot be lower than 0"),
        ({"items": [{"price": 1}, {"price": -5}]}, "Property .items[1].price cannot be lower than 0"),
        ({"items": [{"initial_quantity": 0}]}, "Property .items[0].initial_quantity cannot be lower than 1"),
        ({"status": "SHIPPED"}, "Property .status should be equal to one of the allowed values"),
        ({"metadata": []}, "Property .metadata should be object"),
        (
            {"items": [{"related_object": "voucher"}]},
            "Property .items[0].related_object should be equal to one of",
        ),
        ({"items": [{"quantity": 1}] * 501}, "Property .items should NOT have more than 500 items"),
        ({"items": {}}, "Property .items should be array"),
        (
            {"customer": {"birthdate": "01/02/2003"}},
            'Property .customer.birthdate should match format "date"',
        ),
        ({"items": [{"product": {"price": 1.5}}]}, "Property .items[0].product.price should be integer"),
        ({"source_id": 17}, "Property .source_id should be string"),
    ],
)
def test_invalid_order_gets_400_with_property_path(
    emulator: EmulatorServer, bad_order: dict[str, object], details: str
) -> None:
    payload = [order("good-1"), {**order("bad"), **bad_order}]
    with emulator.client() as client:
        body = assert_api_error(client.post("/v1/orders/import", json=payload), 400, "invalid_payload")
    assert str(body["details"]).startswith(details)
    assert body["message"] == "Invalid payload"
    assert emulator.stats()["imports_accepted"] == 0


@pytest.mark.parametrize("raw", [b"{}", b"[]", b"not json", b'{"source_id": "a"}'])
def test_body_must_be_a_non_empty_json_array(emulator: EmulatorServer, raw: bytes) -> None:
    with emulator.client() as client:
        response = client.post("/v1/orders/import", content=raw, headers={"content-type": "application/json"})
    assert_api_error(response, 400, "invalid_payload")


def test_unknown_voucherify_ids_fail_only_their_order(emulator: EmulatorServer) -> None:
    payload = [
        order("fine-1"),
        order("bad-product", items=[{"product_id": "prod_0000000000000000aa", "quantity": 1}]),
        order("bad-sku", items=[{"sku_id": "sku_0000000000000000aa", "quantity": 1}]),
        order("bad-customer", customer={"id": "cust_doesnotexist"}),
        order(None, referrer_id="cust_nobody"),
        order("fine-2", customer={"source_id": "alice@example.com", "name": "Alice"}),
    ]
    action = import_and_wait(emulator, payload)
    assert action["status"] == "DONE"
    result = action["result"]
    assert (result["done_count"], result["failed_count"]) == (2, 4)
    assert result["failed"] == [
        {"source_id": "bad-product", "reason": "Cannot find product with id prod_0000000000000000aa"},
        {"source_id": "bad-sku", "reason": "Cannot find sku with id sku_0000000000000000aa"},
        {"source_id": "bad-customer", "reason": "Cannot find customer with id cust_doesnotexist"},
        {"source_id": None, "reason": "Cannot find customer with id cust_nobody"},
    ]
    assert emulator.stats()["orders_stored"] == 2
    with emulator.client() as client:
        assert client.get("/v1/orders/bad-product").status_code == 404
        assert client.get("/v1/orders/fine-2").json()["customer"]["object"] == "customer"


def test_same_source_id_twice_updates_one_order(emulator: EmulatorServer) -> None:
    first = import_and_wait(emulator, [order("dup", status="CREATED", amount=100)])
    second = import_and_wait(emulator, [order("dup", status="PAID", amount=250), order("dup", amount=300)])
    assert first["result"]["done_count"] == 1
    assert second["result"]["done_count"] == 2
    with emulator.client() as client:
        stored = client.get("/v1/orders/dup").json()
        assert (stored["status"], stored["amount"]) == ("PAID", 300)
        assert stored["updated_at"] is not None
        assert client.get(f"/v1/orders/{stored['id']}").json() == stored
        assert client.get("/v1/orders").json()["total"] == 1
    stats = emulator.stats()
    assert (stats["orders_stored"], stats["orders_received"], stats["distinct_source_ids_received"]) == (
        1,
        3,
        1,
    )


def test_orders_without_source_id_are_always_new(emulator: EmulatorServer) -> None:
    import_and_wait(emulator, [order(None), order(None)])
    import_and_wait(emulator, [order(None)])
    assert emulator.stats()["orders_stored"] == 3


def test_customers_products_and_skus_are_created_and_overridden(emulator: EmulatorServer) -> None:
    item = {
        "source_id": "sku-red",
        "related_object": "sku",
        "quantity": 1,
        "product": {"source_id": "shirt", "name": "Shirt", "price": 1500, "override": True},
        "sku": {"sku": "Red shirt", "price": 1600, "override": True},
    }
    customer = {"source_id": "bob@example.com", "name": "Bob", "metadata": {"tier": "gold"}}
    import_and_wait(emulator, [order("o-1", items=[item], customer=customer)])
    renamed = {
        **item,
        "product": {**item["product"], "name": "T-shirt"},
        "sku": {"sku": "Red", "override": False},
    }
    import_and_wait(emulator, [order("o-2", items=[renamed], customer={"source_id": "bob@example.com"})])
    with emulator.client() as client:
        product = client.get("/v1/products/shirt").json()
        sku = client.get("/v1/skus/sku-red").json()
        bob = client.get("/v1/customers/bob@example.com").json()
        assert client.get(f"/v1/products/{product['id']}").json()["name"] == "T-shirt"
        assert client.get(f"/v1/skus/{sku['id']}").json()["sku"] == "Red shirt"  # no override: unchanged
        assert client.get(f"/v1/customers/{bob['id']}").json()["name"] == "Bob"
        stored = client.get("/v1/orders/o-2").json()
    assert product["skus"]["data"][0]["id"] == sku["id"]
    assert sku["product_id"] == product["id"]
    assert bob["summary"]["orders"]["total_count"] == 2
    assert stored["items"][0]["sku_id"] == sku["id"]
    assert stored["items"][0]["product_id"] == product["id"]
    assert stored["customer_id"] == bob["id"]


@pytest.mark.parametrize(("path", "kind"), [
    ("/v1/orders/nope", "order"), ("/v1/customers/nope", "customer"), ("/v1/products/nope", "product"),
    ("/v1/skus/nope", "sku"), ("/v1/async-actions/aa_000000000000000000", "async_action"),
])  # fmt: skip
def test_unknown_resources_get_404(emulator: EmulatorServer, path: str, kind: str) -> None:
    with emulator.client() as client:
        body = assert_api_error(client.get(path), 404, "not_found")
    key = path.rsplit("/", 1)[1]
    assert body["message"] == "Resource not found"
    assert body["details"] == f"Cannot find {kind} with id {key}"


def test_async_action_list_pages_newest_first_with_end_date_cursor(emulator: EmulatorServer) -> None:
    with emulator.client() as client:
        ids = [post_import(client, [order(f"list-{index}")]) for index in range(5)]
        wait_for_actions(emulator, ids)
        seen: list[str] = []
        end_date = None
        while True:
            params = {"limit": 2} | ({"end_date": end_date} if end_date else {})
            page = client.get("/v1/async-actions", params=params).json()
            assert (page["object"], page["data_ref"]) == ("list", "async_actions")
            assert all("result" not in action for action in page["async_actions"])
            seen += [action["id"] for action in page["async_actions"]]
            if not page["has_more"]:
                break
            end_date = page["async_actions"][-1]["created_at"]
        assert seen == ids[::-1]
        everything = client.get("/v1/async-actions", params={"limit": 100}).json()
        assert [action["id"] for action in everything["async_actions"]] == ids[::-1]
        assert everything["has_more"] is False
        assert (
            client.get("/v1/async-actions", params={"end_date": "2000-01-01"}).json()["async_actions"] == []
        )


@pytest.mark.parametrize(
    ("params", "details"),
    [
        ({"limit": 0}, "Property .limit cannot be lower than 1"),
        ({"limit": 101}, "Property .limit cannot be greater than 100"),
        ({"limit": "ten"}, "Property .limit should be integer"),
        ({"end_date": "yesterday"}, "Property .end_date cannot be recognized as a ISO-8601 compliant date"),
    ],
)
def test_bad_list_parameters_get_400(
    emulator: EmulatorServer, params: dict[str, object], details: str
) -> None:
    with emulator.client() as client:
        body = assert_api_error(client.get("/v1/async-actions", params=params), 400, "invalid_query_params")
    assert body["details"] == details


def test_orders_list_pages_with_total(emulator: EmulatorServer) -> None:
    import_and_wait(emulator, orders("page", 7))
    with emulator.client() as client:
        pages = [client.get("/v1/orders", params={"limit": 3, "page": page}).json() for page in (1, 2, 3, 4)]
    assert [len(page["orders"]) for page in pages] == [3, 3, 1, 0]
    assert {page["total"] for page in pages} == {7}
    assert [o["source_id"] for page in pages for o in page["orders"]] == [f"page-{i}" for i in range(7)]
    assert all(
        o["object"] == "order" and o["id"].startswith("ord_") for page in pages for o in page["orders"]
    )


def test_projects_keep_their_own_data(tmp_path: Path) -> None:
    projects = tmp_path / "projects.json"
    projects.write_text(
        json.dumps([{"app_id": "one", "app_token": "t1"}, {"app_id": "two", "app_token": "t2"}])
    )
    with EmulatorServer(
        tmp_path, app_id="one", app_token="t1", projects_file=projects, orders_per_second=0
    ) as one:
        with httpx.Client(base_url=one.url, headers={"X-App-Id": "two", "X-App-Token": "t2"}) as two:
            action_id = post_import(two, [order("shared-id")])
            with one.client() as client:
                assert client.get(f"/v1/async-actions/{action_id}").status_code == 404
                wrong = client.get("/v1/orders", headers={"X-App-Id": "two", "X-App-Token": "t1"})
                assert wrong.status_code == 401
            assert wait_for_actions(one, [action_id], client=two)[action_id]["status"] == "DONE"
            assert two.get("/v1/orders/shared-id").status_code == 200
        with one.client() as client:
            assert client.get("/v1/orders/shared-id").status_code == 404
        assert one.stats()["projects"]["two"]["orders_stored"] == 1
