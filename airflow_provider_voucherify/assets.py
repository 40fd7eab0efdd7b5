"""``voucherify://`` assets: one name for a project's orders, in Airflow and in OpenLineage.

The orders of one Voucherify project are the asset
``voucherify://<host>[:<port>]/<Application ID>/orders`` (``voucherify://api.voucherify.io/
a1b2c3/orders``); the provider info registers the scheme (``asset-uris``), so Airflow normalizes
such URIs with :func:`sanitize_uri` and OpenLineage translates them with
:func:`convert_asset_to_openlineage` into the dataset ``ImportOrdersOperator`` reports as its output
(:func:`orders_dataset`): namespace ``voucherify://<host>[:<port>]``, name ``<Application ID>/orders``.

Any other path is kept as written (``voucherify://api.voucherify.io/orders`` becomes the dataset
``orders`` of that namespace: a name for all projects of a cluster, not the one an import writes to).
Pure but for :func:`create_asset` and :func:`convert_asset_to_openlineage`, which import Airflow's
classes when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    from airflow.sdk import Asset

SCHEME = "voucherify"
DEFAULT_PORTS = {"https": 443, "http": 80, SCHEME: 443}


def _authority(scheme: str, netloc: str) -> str:
    """``netloc`` lower-cased, without a port its scheme implies (``:443`` for https)."""
    parts = urlsplit(f"//{netloc}")
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    port = parts.port
    return host if port is None or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"


def orders_dataset(base_url: str, app_id: str) -> tuple[str, str]:
    """The OpenLineage ``(namespace, name)`` of the orders of the project ``app_id`` at ``base_url``.

    :param base_url: the connection's resolved base URL (``https://api.voucherify.io``)
    :returns: ``("voucherify://api.voucherify.io", "<app_id>/orders")``
    """
    parts = urlsplit(base_url)
    return f"{SCHEME}://{_authority(parts.scheme, parts.netloc)}", f"{app_id}/orders"


def orders_uri(base_url: str, app_id: str) -> str:
    """The asset URI of the same orders: ``voucherify://api.voucherify.io/<app_id>/orders``."""
    namespace, name = orders_dataset(base_url, app_id)
    return f"{namespace}/{name}"


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's normalizer of ``voucherify://`` URIs (the ``asset-uris`` handler).

    :raises ValueError: when the URI has no host
    """
    if not uri.netloc:
        raise ValueError(
            "A voucherify:// asset URI needs a host: voucherify://<host>/<Application ID>/orders"
        )
    return uri._replace(scheme=SCHEME, netloc=_authority(SCHEME, uri.netloc))


def create_asset(*, host: str, app_id: str, extra: dict[str, Any] | None = None) -> Asset:
    """The asset of the orders of the project ``app_id`` (the ``asset-uris`` factory).

    :param host: a base URL (``https://api.voucherify.io``) or a host (``api.voucherify.io``)
    """
    from airflow.sdk import Asset

    base_url = host if "://" in host else f"https://{host}"
    return Asset(uri=orders_uri(base_url, app_id), extra=extra)


def convert_asset_to_openlineage(asset: Asset, lineage_context: Any) -> Any:
    """The OpenLineage dataset of a ``voucherify://`` asset (the ``asset-uris`` converter)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parts = urlsplit(asset.uri)
    return Dataset(namespace=f"{SCHEME}://{parts.netloc}", name=parts.path.lstrip("/"))
