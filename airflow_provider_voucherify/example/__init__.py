"""The plain code behind the example DAGs in ``dags/``: warehouse rows in, verified orders out.

``extract``   streams the rows of any DB-API (common SQL) connection, never all at once
``transform`` turns the rows of one query (one row per order line) into import orders, as JSON Lines .gz
``verify``    checks the warehouse's count against what the import and its reconciliation account for

Nothing here opens a connection at import time; the DAGs call these functions inside their tasks.
"""
