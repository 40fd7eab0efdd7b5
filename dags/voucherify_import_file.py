"""Import one JSON Lines file of orders into Voucherify: a one-off migration, triggered by hand.

What it shows: the smallest useful DAG, the import operator and the deferrable sensor on a file
given when the run is triggered, e.g.::

    airflow dags trigger voucherify_import_file --conf '{"orders_path": "s3://bucket/orders.jsonl.gz"}'

Params:
  ``orders_path``  path or URI (``file://``, ``s3://``, ``gs://``...) of JSON Lines orders,
                   plain or ``.gz``, one order of ``POST /v1/orders/import`` per line; every order
                   needs a ``source_id`` (re-running then updates instead of duplicating)

Settings read when the file is parsed (environment variables; no network or database access):
  ``VOUCHERIFY_CONN_ID``        the Voucherify connection (default ``voucherify_default``)
  ``VOUCHERIFY_POLL_INTERVAL``  seconds between two checks of the import (default 60)

The first invalid record fails the task before anything after it is sent; the error names its
line, ``source_id``, field and reason (never its content).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, Param

from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor

VOUCHERIFY_CONN_ID = os.environ.get("VOUCHERIFY_CONN_ID", "voucherify_default")
POLL_INTERVAL = float(os.environ.get("VOUCHERIFY_POLL_INTERVAL", "60"))

with DAG(
    dag_id="voucherify_import_file",
    description="Import one JSON Lines file of orders into Voucherify",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    params={
        "orders_path": Param(
            type="string",
            minLength=1,
            description="Path or URI of the JSON Lines (.gz) file of orders",
        ),
    },
    tags=["voucherify", "example"],
    doc_md=__doc__,
):
    import_orders = ImportOrdersOperator(
        task_id="import_orders",
        orders="{{ params.orders_path }}",
        voucherify_conn_id=VOUCHERIFY_CONN_ID,
        pool="voucherify_imports",
    )
    AsyncActionSensor(
        task_id="wait_for_import",
        async_action_ids=import_orders.output,
        voucherify_conn_id=VOUCHERIFY_CONN_ID,
        deferrable=True,
        poke_interval=POLL_INTERVAL,
        timeout=timedelta(hours=12),
    )
