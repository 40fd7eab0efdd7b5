"""Where the operators' files are: text URIs made into Airflow's ``ObjectStoragePath``, and lineage.

The engines read and write files through a small protocol
(:class:`~airflow_provider_voucherify.importing.source.StoragePath`) and import no Airflow, so a URI
such as ``s3://bucket/orders.jsonl.gz`` is made into an ``ObjectStoragePath`` here, before it
reaches them; local paths and ``file://`` URIs pass as they are.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_voucherify.importing.source import LOCAL_PROTOCOLS, is_location, is_stored, storage_path


def resolved(value: Any) -> Any:
    """``value`` with a URI text (``s3://...``, any scheme but ``file``) made an ``ObjectStoragePath``;
    anything else (a list of orders, a local path, ``None``) as it is."""
    if isinstance(value, str) and "://" in value and value.partition("://")[0] not in LOCAL_PROTOCOLS:
        return ObjectStoragePath(value)
    return value


def lineage_input(orders: object) -> tuple[str, str] | None:
    """OpenLineage ``(namespace, name)`` of a file source, else ``None``.

    Named as Airflow's object-storage providers name the same file, so the datasets join:
    ``("s3://bucket", "key/of/file")`` (no leading slash), ``("file", "/absolute/path")``.
    """
    orders = resolved(orders)
    if not is_location(orders):
        return None
    path = storage_path(orders)
    if not is_stored(path):
        return "file", str(path.absolute())
    stored: Any = path  # an ObjectStoragePath: it has a bucket and a key
    return f"{stored.protocol}://{stored.bucket}" if stored.bucket else stored.protocol, stored.key.lstrip(
        "/"
    )
