"""The smallest useful DAG: import one JSON Lines file of orders, then wait for Voucherify.

Trigger it with the file's path or URI, e.g.
``airflow dags trigger voucherify_quickstart --conf '{"orders": "/data/orders.jsonl"}'``.
``s3://`` URIs need ``apache-airflow-providers-amazon`` (and ``gs://`` the Google provider).
It uses the connection ``voucherify_default``. The test suite runs this file as it is
(tests/docs/test_quickstart.py).
"""

# --8<-- [start:quickstart]
from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from airflow_provider_voucherify.sensors.async_action import AsyncActionSensor

with DAG(
    "voucherify_quickstart",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    params={"orders": Param(type="string", minLength=1, description="Path or URI of a JSON Lines file")},
) as dag:
    imported = ImportOrdersOperator(task_id="import", orders="{{ params.orders }}")
    done = AsyncActionSensor(task_id="wait", async_action_ids=imported.output, deferrable=True)
    imported >> done
# --8<-- [end:quickstart]
