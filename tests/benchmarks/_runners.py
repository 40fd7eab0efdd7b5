"""The three ways to send a JSON Lines file to ``POST /v1/orders/import`` that the benchmarks compare.

Each runner reads the file from the start and returns the async action ids once the last import
was accepted (it does not wait for processing), so the caller times exactly that span.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow_provider_voucherify.emulator.testing import EmulatorServer

BATCH = 2000
IMPORT_PATH = "/v1/orders/import"


def floor(server: EmulatorServer, path: Path) -> list[str]:
    """The least a client can do: ``json.loads`` per line, batches of 2000, one ``httpx.Client``."""
    ids: list[str] = []
    headers = {"Content-Type": "application/json"}
    with server.client() as client, path.open("rb") as lines:

        def post(batch: list[Any]) -> None:
            response = client.post(IMPORT_PATH, content=json.dumps(batch).encode(), headers=headers)
            response.raise_for_status()
            ids.append(response.json()["async_action_id"])

        batch: list[Any] = []
        for line in lines:
            batch.append(json.loads(line))
            if len(batch) == BATCH:
                post(batch)
                batch = []
        if batch:
            post(batch)
    return ids


def sdk(server: EmulatorServer, path: Path) -> list[str]:
    """The official ``voucherify`` SDK: a model per order, ``OrdersApi.import_orders``.

    Orders are built with ``model_validate(json.loads(line))``, not the SDK's ``from_json``: its
    ``from_dict`` marks every absent nullable field as set, so ``to_dict`` sends ``"id": null`` and
    the like, which the API refuses (400 ``Property .id should be string``). ``model_validate`` is
    also the faster of the two, so the SDK gets its best correct path.
    """
    import voucherify

    configuration = voucherify.Configuration(
        host=server.url, api_key={"X-App-Id": server.app_id, "X-App-Token": server.app_token}
    )
    model = voucherify.OrdersImportCreateRequestBodyItem
    ids: list[str] = []
    with voucherify.ApiClient(configuration) as api_client:
        api = voucherify.OrdersApi(api_client)

        def post(batch: list[Any]) -> None:
            ids.append(api.import_orders(batch).async_action_id)

        batch: list[Any] = []
        with path.open("rb") as lines:
            for line in lines:
                batch.append(model.model_validate(json.loads(line)))
                if len(batch) == BATCH:
                    post(batch)
                    batch = []
        if batch:
            post(batch)
    return ids


class TaskInstanceStub:
    """What ``ImportOrdersOperator.execute`` uses of ``context["ti"]`` outside a scheduler."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


@contextmanager
def default_connection(server: EmulatorServer) -> Iterator[None]:
    """``voucherify_default`` points at ``server`` (an ``AIRFLOW_CONN_`` variable) for the block."""
    name = "AIRFLOW_CONN_VOUCHERIFY_DEFAULT"
    before = os.environ.get(name)
    os.environ[name] = server.conn_json
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def provider(server: EmulatorServer, path: Path, **operator_kwargs: Any) -> list[str]:
    """``ImportOrdersOperator(...).execute(context)`` outside a scheduler, as a task would run it."""
    from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator

    operator = ImportOrdersOperator(task_id="import_orders", orders=str(path), **operator_kwargs)
    with default_connection(server):
        ids: list[str] = operator.execute({"ti": TaskInstanceStub()})  # type: ignore[arg-type]
    return ids


RUNNERS = {"provider": provider, "floor": floor, "sdk": sdk}
