"""The import engine: from a file (or a list) of orders to accepted ``POST /v1/orders/import`` calls.

==================  ==========================================================================
module              idea
==================  ==========================================================================
``source``          the orders as a stream of records with line numbers (files, lists, stores)
``file_formats``    what a file is, told by its first bytes: the formats read and refused
``lines``           lines bounded in length, read as fast as unbounded ones
``validation``      records into orders, or invalid records into the rejects file
``preflight``       the project's metadata schemas, checked before the first bulk call
``batching``        orders into batches of at most 2000 orders and 10 MiB
``pipeline``        the rules above in one place (``ImportRules``), shared by the reconciliation
``body_limit``      a 413 splits the batch and learns the body limit
``ledger``          accepted batches recorded, and which of them a later try may skip
``continuation``    where an import stands, to go on after a rate-limit wait or a restart
``sending``         the send loop: skip, post, wait for a window, record, report
``plan_view``       the plan's bulk limit as the import learns it, and the ETA
``progress``        the progress line of each accepted batch
==================  ==========================================================================

Nothing here imports Airflow: ``ImportOrdersOperator`` hands in a client (``VoucherifyHook``
satisfies :class:`~.sending.ImportClient`), a logger, the task state store, object-store paths
and a way to defer.
"""
