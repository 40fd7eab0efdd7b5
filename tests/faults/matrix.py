"""The fault matrix's shared parts: the input, the end state read back from the emulator, the table.

Every case imports the same :data:`ORDERS` orders (each with its own ``source_id``) in
:data:`BATCHES` batches, injects its fault, and then reads every stored order back through
``GET /v1/orders`` to count what was lost and what was duplicated. :func:`record` adds the case
to :data:`ROWS`, which ``conftest.py`` prints at the end of the run.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_voucherify.emulator.testing import EmulatorServer, wait_for_actions
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from tests.operators.conftest import order_dict, write_jsonl

ORDERS = 6000
BATCH_SIZE = 1000
BATCHES = ORDERS // BATCH_SIZE
LIST_PAGE = 100


def source_id(number: int) -> str:
    """The ``source_id`` of order ``number`` (1-based), as ``order_dict`` writes it."""
    return order_dict(number)["source_id"]


ALL_SOURCE_IDS = frozenset(source_id(n) for n in range(1, ORDERS + 1))


def write_orders(path: Path) -> Path:
    """The matrix's input: :data:`ORDERS` orders as gzip JSON Lines, read as a stream by the operator."""
    return write_jsonl(path, (order_dict(n) for n in range(1, ORDERS + 1)), gz=True)


class TaskInstance:
    """The one method of a task instance that the operator calls when run outside Airflow."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def import_operator(orders: Path, **kwargs: Any) -> ImportOrdersOperator:
    return ImportOrdersOperator(task_id="import_orders", orders=str(orders), batch_size=BATCH_SIZE, **kwargs)


def run_task(operator: ImportOrdersOperator, task_state_store: Any = None) -> list[str]:
    """``execute`` the operator as a worker would; returns its XCom (the async action ids).

    :param task_state_store: what Airflow 3.3+ puts in the context, kept across the tries
    """
    context = {"ti": TaskInstance(), "task_state_store": task_state_store}
    ids: list[str] = operator.execute(context)  # type: ignore[arg-type]
    return ids


def all_action_ids(server: EmulatorServer) -> list[str]:
    """Every async action the emulator knows (at most 100), newest first."""
    with server.client() as client:
        response = client.get("/v1/async-actions", params={"limit": 100})
        response.raise_for_status()
        return [action["id"] for action in response.json()["async_actions"]]


def finished(server: EmulatorServer, ids: Iterable[str], deadline_s: float = 60.0) -> dict[str, Any]:
    """Wait (polling) until the emulator finished ``ids``; the actions by id."""
    return wait_for_actions(server, ids, deadline_s=deadline_s)


@dataclass(frozen=True)
class EndState:
    """What the emulator holds: the ``source_id`` of every stored order, and its counters."""

    source_ids: list[str | None]
    stats: dict[str, Any]

    def lost(self, expected: Iterable[str], anonymous: int = 0) -> int:
        """Expected orders not stored; ``anonymous`` orders without ``source_id`` are expected too."""
        missing_anonymous = max(0, anonymous - self.source_ids.count(None))
        return len(set(expected) - set(self.source_ids)) + missing_anonymous

    def duplicated(self, expected: Iterable[str], anonymous: int = 0) -> int:
        """Stored orders beyond one per expected ``source_id`` (repeats and strangers alike), and
        beyond ``anonymous`` orders without one."""
        counts = Counter(self.source_ids)
        wanted = set(expected)
        extra_anonymous = max(0, counts.pop(None, 0) - anonymous)
        return extra_anonymous + sum(n - 1 if sid in wanted else n for sid, n in counts.items())


def end_state(server: EmulatorServer) -> EndState:
    """Every stored order, paged through ``GET /v1/orders`` (oldest first), and the counters."""
    server.clear_faults()
    stored: list[str | None] = []
    with server.client() as client:
        page, total = 1, None
        while total is None or len(stored) < total:
            response = client.get("/v1/orders", params={"limit": LIST_PAGE, "page": page})
            response.raise_for_status()
            body = response.json()
            total = int(body["total"])
            if not body["orders"]:
                break
            stored += [order.get("source_id") for order in body["orders"]]
            page += 1
    return EndState(stored, server.stats())


@dataclass
class Row:
    case: str
    outcome: str
    expected: int
    stored: int
    lost: int
    duplicated: int
    imports: str
    seconds: float
    note: str = ""


ROWS: list[Row] = []


@dataclass
class Case:
    """One case of the matrix being run: its name, timer and (once known) outcome and note."""

    name: str
    outcome: str = "?"
    note: str = ""
    started: float = field(default_factory=time.monotonic)

    def record(
        self,
        server: EmulatorServer,
        expected: Iterable[str],
        *,
        batches: int | None = BATCHES,
        repeated_payloads: bool = False,
        anonymous: int = 0,
    ) -> EndState:
        """Read the end state, add the table row, and assert nothing was lost or duplicated.

        :param expected: the ``source_id`` of every order that must be stored, once
        :param batches: how many imports the emulator must have accepted (``None``: not checked)
        :param repeated_payloads: whether this fault may make the client send a body twice (an
            answer lost after the server acted on the request); orders must still be stored once
        :param anonymous: how many orders without ``source_id`` must be stored, on top of ``expected``
        """
        expected = set(expected)
        state = end_state(server)
        stats = state.stats
        lost, duplicated = state.lost(expected, anonymous), state.duplicated(expected, anonymous)
        ROWS.append(
            Row(
                case=self.name,
                outcome=self.outcome,
                expected=len(expected) + anonymous,
                stored=len(state.source_ids),
                lost=lost,
                duplicated=duplicated,
                imports=f"{stats['imports_accepted']} ({stats['duplicate_payloads']} repeated)",
                seconds=time.monotonic() - self.started,
                note=self.note,
            )
        )
        assert lost == 0, f"{lost} orders lost, e.g. {sorted(set(expected) - set(state.source_ids))[:5]}"
        assert duplicated == 0, f"{duplicated} orders duplicated"
        assert stats["orders_stored"] == len(expected) + anonymous
        if not repeated_payloads:
            assert stats["duplicate_payloads"] == 0, "a batch was imported twice"
            if batches is not None:
                assert stats["imports_accepted"] == batches
        return state


def text_table(columns: Sequence[tuple[str, str]], rows: Iterable[object]) -> list[str]:
    """The matrix's table style: ``columns`` are (attribute, header) pairs, floats to one decimal."""
    cells = [[header for _, header in columns]]
    for row in rows:
        values = [getattr(row, name) for name, _ in columns]
        cells.append([f"{value:.1f}" if isinstance(value, float) else str(value) for value in values])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = [
        " | ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)) for line in cells
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return lines
