"""Import one JSON Lines file of orders into Voucherify: a one-off migration, triggered by hand.

What it shows: the smallest useful DAG, the import operator and the deferrable sensor on a file
given when the run is triggered, e.g.::

    airflow dags trigger voucherify_import_file --conf '{"orders_path": "s3://bucket/orders.jsonl.gz"}'

Params:
  ``orders_path``         path or URI (``file://``, ``s3://``, ``gs://``...) of JSON Lines orders,
                          plain or ``.gz``, one order of ``POST /v1/orders/import`` per line; every
                          order needs a ``source_id`` (re-running then updates, not duplicates)
  ``voucherify_conn_id``  the Voucherify connection (default ``voucherify_default``)

Settings read when the file is parsed (environment variables; no network or database access):
  ``VOUCHERIFY_POLL_INTERVAL``  seconds between two checks of the import (default 60)
  ``VOUCHERIFY_IMPORT_POOL``    a pool for the import task, e.g. ``voucherify_imports`` with one
                                slot shared by every DAG importing into the same project; unset,
                                no pool is needed and this DAG runs one import at a time

The first invalid record fails the task before anything after it is sent; the error names its
line, ``source_id``, field and reason (never its content).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, Param

from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor

POLL_INTERVAL = float(os.environ.get("VOUCHERIFY_POLL_INTERVAL", "60"))
# A pool that does not exist would leave the task "scheduled" forever: use one only when named.
IMPORT_POOL = os.environ.get("VOUCHERIFY_IMPORT_POOL") or None

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
        "voucherify_conn_id": Param(
            "voucherify_default", type="string", minLength=1, description="The Voucherify connection"
        ),
    },
    tags=["voucherify", "example"],
    doc_md=__doc__,
):
    import_orders = ImportOrdersOperator(
        task_id="import_orders",
        orders="{{ params.orders_path }}",
        voucherify_conn_id="{{ params.voucherify_conn_id }}",
        # Voucherify runs one import per project at a time: no point in sending two.
        max_active_tis_per_dag=1,
        pool=IMPORT_POOL,
    )
    AsyncActionSensor(
        task_id="wait_for_import",
        async_action_ids=import_orders.output,
        voucherify_conn_id="{{ params.voucherify_conn_id }}",
        deferrable=True,
        poke_interval=POLL_INTERVAL,
        timeout=timedelta(hours=12),
    )
