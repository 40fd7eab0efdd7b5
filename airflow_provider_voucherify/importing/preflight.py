"""What ImportOrdersOperator checks before spending a bulk call: the project's metadata schemas.

:class:`Preflight` reads the project's metadata schemas (``GET /v1/metadata-schemas/{resource}``,
an ordinary API call, at most once per resource and try: ``order`` at the start, ``order_item``,
``customer`` and ``product`` the first time an order carries metadata for them) and checks each
order against them in the validation pass, so an order Voucherify would refuse is an invalid record.
It also counts orders without a ``status`` (they become ``CREATED`` and count for no customer).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from airflow_provider_voucherify.exceptions import MetadataSchemaError
from airflow_provider_voucherify.metadata_schema import (
    Errors,
    MetadataSchema,
    order_errors,
    resources_used,
)
from airflow_provider_voucherify.models import Order


class SchemaReader(Protocol):
    def get_metadata_schema(self, resource: str) -> dict[str, Any] | None: ...


def created_at_problem(schema: MetadataSchema | None, key: str | None) -> tuple[str, bool] | None:
    """``(message, fatal)`` when the ``order`` schema does not take ``key`` as a datetime.

    Fatal when the schema allows only defined metadata and lacks the key (every order would fail);
    a warning when the key would be stored as a string, or is defined with another type.
    """
    if schema is None or key is None:
        return None
    rule = schema.properties.get(key)
    define = (
        f"define {key!r} in the project's order metadata schema (Project settings > Metadata schema"
        f" > Order) as type datetime, optional"
    )
    if rule is None and schema.allow_defined_only:
        return (
            f"The project's order metadata schema allows only defined metadata and does not define"
            f" {key!r}, which this import adds to every order with a created_at"
            f" (created_at_metadata_key). Voucherify would refuse every such order: {define}, or pass"
            f" created_at_metadata_key=None. Nothing was sent.",
            True,
        )
    if rule is None:
        return (
            f"The project's order metadata schema does not define {key!r}: Voucherify will store each"
            f" order's original date as a string, which date-based segments and rules cannot use;"
            f" {define}.",
            False,
        )
    if rule.type != "datetime" or rule.array:
        return (
            f"The project's order metadata schema defines {key!r} as {rule.described}, not datetime:"
            f" orders with a created_at may be refused, and dates cannot be compared; {define}.",
            False,
        )
    return None


class Preflight:
    """Per try: the schemas read so far, the check run on each order, and the status count.

    :param reader: the hook (``None``: no schema is read, only statuses are counted)
    :param created_at_metadata_key: the operator's key for the original order date
    """

    def __init__(
        self,
        reader: SchemaReader | None,
        created_at_metadata_key: str | None,
        log: logging.Logger | Any,
    ) -> None:
        self.reader, self.key, self.log = reader, created_at_metadata_key, log
        self.schemas: dict[str, MetadataSchema | None] = {}
        self._without_schema: set[str] = set()  # resources read and found to have no schema
        self.without_status = 0
        self.started = False

    def start(self) -> None:
        """Read the ``order`` schema and judge ``created_at_metadata_key`` against it; done by the
        first :meth:`check`, so an input without a valid order costs no call at all.

        :raises MetadataSchemaError: when every order with a ``created_at`` would be refused
        """
        self.started = True
        if self.reader is None:
            return
        schema = self._schema("order")
        if schema is None:
            self.log.info("Preflight: the project has no order metadata schema; any metadata is accepted")
            return
        self.log.info(
            "Preflight: order metadata schema with %d defined keys%s",
            len(schema.properties),
            ", allowing only those" if schema.allow_defined_only else "",
        )
        if problem := created_at_problem(schema, self.key):
            message, fatal = problem
            if fatal:
                raise MetadataSchemaError(message)
            self.log.warning("%s", message)

    def _schema(self, resource: str) -> MetadataSchema | None:
        if resource not in self.schemas:
            assert self.reader is not None
            body = self.reader.get_metadata_schema(resource)
            self.schemas[resource] = None if body is None else MetadataSchema.from_api(body, resource)
            if body is None:
                self._without_schema.add(resource)
        return self.schemas[resource]

    def check(self, order: Order) -> Errors:
        """Why the project's schemas would refuse ``order`` (empty: they would not); counts statuses.

        :raises MetadataSchemaError: on the first order, see :meth:`start`
        """
        if not self.started:
            self.start()
        errors: Errors = []
        # Most projects define no schema for what an order carries: nothing to check then (a
        # set comparison per order; it runs for every order of an import).
        if self.reader is not None and not (used := resources_used(order)) <= self._without_schema:
            schemas: Mapping[str, MetadataSchema | None] = {
                resource: self._schema(resource) for resource in used
            }
            if any(schema is not None for schema in schemas.values()):
                errors = order_errors(order, schemas)
        if not errors and order.status is None:
            self.without_status += 1
        return errors

    def finish(self) -> None:
        """Warn once about orders that count for no customer."""
        if self.without_status:
            self.log.warning(
                "%d valid orders have no status: Voucherify stores them as CREATED, and CREATED orders"
                " count in no customer's order summary and move no customer into a segment. Give each"
                " order its real status (PAID, FULFILLED, CANCELED) if that matters.",
                self.without_status,
            )
