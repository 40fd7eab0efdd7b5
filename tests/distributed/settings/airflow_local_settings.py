"""Cluster policy of the distributed test, on every component's ``PYTHONPATH``.

It tunes the example DAG without editing it: small import batches, so that an import spans
several requests and a worker can be lost between two of them, and a short retry delay.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

DAG_ID = "voucherify_orders_backfill"
BATCH_SIZE = 25
RETRY_DELAY = timedelta(seconds=2)


def task_policy(task: Any) -> None:
    if task.dag_id != DAG_ID:
        return
    task.retry_delay = RETRY_DELAY
    if task.task_id == "import_orders":
        task.batch_size = BATCH_SIZE
