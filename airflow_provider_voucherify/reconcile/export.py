"""Every order of a source compared with one export of what Voucherify holds: flat memory, on disk.

The source's orders go into an on-disk SQLite index (:mod:`.export_index`), the export's rows into
a second table, the customers export (Voucherify id → ``source_id``) into a third, and one join
walks them: memory holds one row at a time whatever the number of orders. Compared, for each order
that sent them: ``id``, ``status``, ``amount`` and ``discount_amount`` (as integers: ``1999.0`` is
1999), each ``metadata.<key>`` (by the type the order sent: a number as its text,
``true``/``false``, a date as an instant, read by the package's one date parser; see
:func:`~airflow_provider_voucherify.reconcile.compare.same_value`), and the customer and referrer
(``customer_id`` / ``customer.id`` against the export's ``customer_id``, ``customer.source_id``
against that customer's ``source_id`` in the customers export). An order the export lacks is
missing; one whose fields differ is differing. Both are reported by ``source_id`` and field name,
never with values (they may be personal data), and their source lines are written unchanged to
the missing-orders file, ready to import again. Item fields are not in an export: they stay on the
read-back sample (:mod:`.check`).

Calls: one ``POST /v1/exports`` of the orders (and one of the customers, when orders name a
customer or referrer), the ``GET /v1/exports/{id}`` polls until they are done, one download each.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, Protocol

from airflow_provider_voucherify.exceptions import ExportFailedError
from airflow_provider_voucherify.models import AsyncAction
from airflow_provider_voucherify.reconcile.compare import same_value
from airflow_provider_voucherify.reconcile.export_index import PARTIES, Joined, SourceIndex, raw_line

__all__ = [
    "ExportCalls",
    "ExportComparison",
    "ExportFailedError",
    "SourceIndex",
    "compare_by_export",
    "compare_exports",
    "create_exports",
    "differing_fields",
    "export_fields",
    "scope_filters",
    "source_records",
    "wait_for_export",
]

# The export's columns before the metadata keys: everything an order export carries that an
# import sends, and the dates that scope it.
ORDER_FIELDS = (
    "id", "source_id", "status", "amount", "discount_amount", "customer_id", "referrer_id",
    "created_at", "updated_at",
)  # fmt: skip
CUSTOMER_FIELDS = ("id", "source_id")
AMOUNTS = ("amount", "discount_amount")
UNFINISHED = frozenset({"SCHEDULED", "IN_PROGRESS"})
MAX_LISTED = 100  # problems kept for the report's table; the counts and the file hold them all
# Orders are created after the import that sends them: the scope starts this long before the
# earliest import, so that no clock rounding leaves one out.
SCOPE_MARGIN = timedelta(seconds=1)


class ExportCalls(Protocol):
    """The calls the comparison makes (``VoucherifyHook`` has them)."""

    def create_export(
        self,
        exported_object: str,
        fields: Sequence[str],
        filters: Mapping[str, Any] | None = None,
        order: str | None = None,
    ) -> dict[str, Any]: ...
    def get_export(self, export_id: str) -> dict[str, Any]: ...
    def download_export(self, export: Mapping[str, Any]) -> Iterator[dict[str, str]]: ...


@dataclass
class ExportComparison:
    """What the comparison found: counts, the first problems (``source_id``, field), the export's id."""

    export_id: str = ""
    checked: int = 0
    missing: int = 0
    differing: int = 0
    without_source_id: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "export_id": self.export_id,
            "checked": self.checked,
            "missing": self.missing,
            "differing": self.differing,
            "without_source_id": self.without_source_id,
        }

    def table(self) -> str:
        """The problems as a plain table (``source_id``, field), never values."""
        lines = [f"{source_id}\t{name}" for source_id, name in self.problems]
        more = self.missing + self.differing - len({source_id for source_id, _ in self.problems})
        tail = [f"... and {more} more order(s)"] if more > 0 else []
        return "\n".join(["source_id\tfield", *lines, *tail])


def _integer(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        return None
    return int(value)


def export_fields(metadata_keys: Iterable[str]) -> list[str]:
    """The orders export's columns: :data:`ORDER_FIELDS`, then one per metadata key sent (sorted)."""
    return [*ORDER_FIELDS, *(f"metadata.{key}" for key in sorted(metadata_keys))]


def differing_fields(
    sent: Mapping[str, Any], held: Mapping[str, str], parties: Mapping[str, str | None] | None = None
) -> list[str]:
    """The names of the fields ``sent`` holds that the export's row ``held`` does not hold as sent.

    :param parties: per role (``customer``, ``referrer``), the ``source_id`` of the customer the
        held order points at, from the customers export (``None``: none); without it, only the
        customers' ids are compared
    """
    found = []
    for name in ("id", "status"):
        if sent.get(name) is not None and held.get(name) != sent[name]:
            found.append(name)
    for name in AMOUNTS:
        if name in sent and sent[name] is not None:
            text = held.get(name, "")
            stored = int(text) if text.lstrip("-").isdigit() else None
            if stored is None or stored != _integer(sent[name]):
                found.append(name)
    for key, value in (sent.get("metadata") or {}).items():
        if not _same_text(value, held.get(f"metadata.{key}", "")):
            found.append(f"metadata.{key}")
    for role in PARTIES:
        found.extend(_party(role, sent, held, parties))
    return found


def _party(
    role: str, sent: Mapping[str, Any], held: Mapping[str, str], parties: Mapping[str, str | None] | None
) -> list[str]:
    stored_id = held.get(f"{role}_id") or None
    if sent.get(f"{role}_id") is not None and sent[f"{role}_id"] != stored_id:
        return [f"{role}_id"]
    party = sent.get(role)
    if not isinstance(party, Mapping):
        return []
    if stored_id is None:
        return [role]
    if party.get("id") is not None and party["id"] != stored_id:
        return [f"{role}.id"]
    if parties is not None and party.get("source_id") is not None and parties.get(role) != party["source_id"]:
        return [f"{role}.source_id"]
    return []


def _same_text(sent: Any, text: str) -> bool:
    if sent is None:
        return text == ""
    if isinstance(sent, (Mapping, list)):
        try:
            return same_value(sent, json.loads(text))
        except ValueError:
            return False
    return same_value(sent, text)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def scope_filters(actions: Iterable[AsyncAction]) -> dict[str, Any] | None:
    """The export's filters for what the imports of ``actions`` touched, as the spec writes them:
    orders created or updated after the earliest import began (``None`` when no action says when).

    ``updated_at`` as well as ``created_at``: an order imported again keeps the ``created_at`` of
    its first import. No upper bound: an order the run touched and something changed since must
    still be compared (and found differing), not left out as missing.
    """
    starts = [action.created_at for action in actions if action.created_at is not None]
    if not starts:
        return None
    after = [_iso(min(starts) - SCOPE_MARGIN)]
    return {
        "created_at": {"conditions": {"$after": after}},
        "updated_at": {"conditions": {"$after": after}},
        "junction": "or",
    }


def create_exports(
    calls: ExportCalls, index: SourceIndex, filters: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """``POST /v1/exports`` of the orders (``filters``, the fields the index's orders sent) and,
    when they name a customer or referrer, of the customers (whole project); by exported object."""
    created = {"order": calls.create_export("order", export_fields(index.metadata_keys), filters=filters)}
    if index.parties:
        created["customer"] = calls.create_export("customer", CUSTOMER_FIELDS)
    return created


def compare_exports(
    calls: ExportCalls,
    index: SourceIndex,
    exports: Mapping[str, Mapping[str, Any]],
    write_missing: Callable[[bytes], object] | None = None,
) -> ExportComparison:
    """Download the ``DONE`` exports (by exported object) and compare every order of ``index``.

    :param write_missing: called with the source line of every missing or differing order,
        unchanged (its line break included)
    """
    index.add_held(calls.download_export(exports["order"]))
    customers = exports.get("customer")
    if customers is not None:
        index.add_customers(calls.download_export(customers))
    result = ExportComparison(
        export_id=str(exports["order"]["id"]), without_source_id=index.without_source_id
    )
    for joined in index.joined():
        result.checked += 1
        names = _problems(joined, customers is not None)
        if not names:
            continue
        if joined.held is None:
            result.missing += 1
        else:
            result.differing += 1
        if len(result.problems) < MAX_LISTED:
            result.problems.extend((joined.source_id, name) for name in names)
        if write_missing is not None:
            write_missing(joined.line if joined.line.endswith(b"\n") else joined.line + b"\n")
    return result


def _problems(joined: Joined, with_customers: bool) -> list[str]:
    if joined.held is None:
        return ["(missing)"]
    return differing_fields(joined.sent, joined.held, joined.parties if with_customers else None)


def wait_for_export(
    calls: ExportCalls,
    export: Mapping[str, Any],
    *,
    poll_interval: float = 5.0,
    timeout: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll ``GET /v1/exports/{id}`` every ``poll_interval`` s until the export leaves
    ``SCHEDULED`` / ``IN_PROGRESS`` (the operator paces its polls on the call budget instead:
    :mod:`~airflow_provider_voucherify.waiting.exports`).

    :raises ExportFailedError: when it ends with another status than ``DONE``, naming the export
    :raises TimeoutError: when it is still unfinished after ``timeout`` seconds
    """
    export_id = str(export["id"])
    deadline = clock() + timeout
    current = dict(export)
    while current.get("status") in UNFINISHED:
        if clock() >= deadline:
            raise TimeoutError(f"Export {export_id} is still {current.get('status')} after {timeout:.0f} s")
        sleep(poll_interval)
        current = calls.get_export(export_id)
    if current.get("status") != "DONE":
        raise ExportFailedError(
            f"Export {export_id} ended {current.get('status')}, not DONE: nothing was compared"
        )
    return current


def compare_by_export(
    calls: ExportCalls,
    records: Iterable[tuple[bytes, Mapping[str, Any]]],
    missing_orders: IO[bytes] | None = None,
    *,
    filters: Mapping[str, Any] | None = None,
    work_dir: str | Path | None = None,
    poll_interval: float = 5.0,
    timeout: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> ExportComparison:
    """Compare every order of ``records`` (``(raw line, parsed order)``) with one export of the orders.

    :param missing_orders: receives the raw line of every missing or differing order, unchanged
    :param filters: the export's filters (the imports' time range), as the spec writes them
    :param work_dir: where the on-disk index lives (a temporary directory by default)
    """
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="voucherify-reconcile-") as directory:
        index = SourceIndex(directory)
        with closing(index):
            index.add(records)
            created = create_exports(calls, index, filters)
            done = {
                kind: wait_for_export(
                    calls, export, poll_interval=poll_interval, timeout=timeout, sleep=sleep
                )
                for kind, export in created.items()
            }
            return compare_exports(
                calls, index, done, None if missing_orders is None else missing_orders.write
            )


def source_records(items: Iterable[tuple[int, Any]]) -> Iterator[tuple[bytes, Mapping[str, Any]]]:
    """``(raw line, parsed order)`` pairs from an ``OrderSource``'s ``(line number, record)``: a
    file's raw bytes as they are, an in-memory order as its JSON."""
    for _, item in items:
        line = raw_line(item)
        yield line, json.loads(line)
