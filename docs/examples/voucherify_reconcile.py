"""Import a JSON Lines file of orders, wait for Voucherify, then prove what it holds.

Trigger it with the file's path or URI and where refused orders should go, e.g.
``airflow dags trigger voucherify_reconcile --conf '{"orders": "/data/orders.jsonl",
"failed_orders": "/data/failed_orders.jsonl"}'``. It uses the connection ``voucherify_default``.
The test suite runs this file as it is (tests/docs/test_reconcile_example.py).
"""

# --8<-- [start:reconcile]
from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.operators.reconcile_orders import ReconcileOrdersOperator
from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor

with DAG(
    "voucherify_reconcile",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    params={
        "orders": Param("s3://bucket/orders.jsonl.gz", type="string"),
        "failed_orders": Param("s3://bucket/failed_orders.jsonl", type="string"),
    },
):
    imported = ImportOrdersOperator(task_id="import", orders="{{ params.orders }}", deferrable=True)
    done = AsyncActionSensor(task_id="wait", async_action_ids=imported.output, deferrable=True)
    # of_import: the same input, action ids, connection and settings as the import (and downstream of it).
    reconcile = ReconcileOrdersOperator.of_import(
        imported,
        task_id="reconcile",
        sample_size=100,  # or detect_corruption_rate=0.03
        seed="{{ run_id }}",  # the same run draws the same sample
        failed_orders_path="{{ params.failed_orders }}",
        compare_customers=False,  # the default: customers checked by link, no extra call
    )  # deferrable=True, taken from the import: a rate limit frees the worker until it lifts
    done >> reconcile
# --8<-- [end:reconcile]
