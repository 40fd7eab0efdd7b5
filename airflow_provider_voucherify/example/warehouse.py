"""What the example DAGs read from the warehouse: the queries, and a period's orders staged as a file.

One extract serves the monthly runs and the whole-migration audit alike (:func:`stage_orders`),
so the audit compares Voucherify with exactly what the months would have sent. The queries use
plain SQL; ``{placeholder}`` becomes the hook's paramstyle (see
:func:`~airflow_provider_voucherify.example.extract.stream_rows`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from airflow_provider_voucherify.example.extract import SqlHook, stream_rows
from airflow_provider_voucherify.example.periods import SqlInterval
from airflow_provider_voucherify.example.transform import (
    CustomerDetails,
    WritablePath,
    orders_from_rows,
    write_jsonl_gz,
)
from airflow_provider_voucherify.example.verify import count_orders

# The shop's status words mapped to the API's; shared by both queries.
STATUS = """CASE o.status WHEN 'pending' THEN 'CREATED' WHEN 'paid' THEN 'PAID'
    WHEN 'fulfilled' THEN 'FULFILLED' WHEN 'cancelled' THEN 'CANCELED' END"""

# One row per order line, the lines of an order consecutive; the column names are the contract
# of airflow_provider_voucherify.example.transform.
ORDER_LINES_SQL = f"""
SELECT o.source_id AS order_source_id, {STATUS} AS order_status, o.total AS order_amount,
       o.placed_at AS order_created_at,
       c.source_id AS customer_source_id, c.first_name || ' ' || c.last_name AS customer_name,
       c.email AS customer_email, c.phone AS customer_phone, c.city AS customer_city,
       c.country AS customer_country,
       r.source_id AS referrer_source_id, r.first_name || ' ' || r.last_name AS referrer_name,
       r.email AS referrer_email,
       p.source_id AS product_source_id, p.name AS product_name, p.list_price AS product_price,
       s.source_id AS sku_source_id, s.code AS sku_code, s.list_price AS sku_price,
       l.quantity, l.unit_price
FROM orders o
JOIN order_lines l ON l.order_id = o.order_id
JOIN skus s ON s.sku_id = l.sku_id
JOIN products p ON p.product_id = s.product_id
LEFT JOIN customers c ON c.customer_id = o.customer_id
LEFT JOIN customers r ON r.customer_id = o.referrer_id
WHERE o.placed_at >= {{placeholder}} AND o.placed_at < {{placeholder}}
ORDER BY o.placed_at, o.source_id, l.line_no
"""

# The orders of an interval, counted where they come from.
COUNT_SQL = """
SELECT COUNT(*) AS orders FROM orders o
WHERE o.placed_at >= {placeholder} AND o.placed_at < {placeholder}
"""


def stage_orders(
    hook: SqlHook,
    intervals: Sequence[SqlInterval],
    target: WritablePath,
    customer_details: CustomerDetails = "full",
) -> int:
    """Stream the orders placed in ``intervals`` (one after the other, in order) into ``target`` as
    JSON Lines .gz, one order in memory at a time; returns how many orders were written.

    :param intervals: ``(from, to)`` UTC texts (:func:`~airflow_provider_voucherify.example.periods.parts`)
    :param target: a local path or an ``ObjectStoragePath``
    """
    rows = itertools.chain.from_iterable(stream_rows(hook, ORDER_LINES_SQL, part) for part in intervals)
    return write_jsonl_gz(orders_from_rows(rows, customer_details=customer_details), target)


def count_in(hook: SqlHook, intervals: Sequence[SqlInterval]) -> int:
    """The warehouse's count of the orders placed in ``intervals``."""
    return sum(count_orders(hook, COUNT_SQL, part) for part in intervals)
