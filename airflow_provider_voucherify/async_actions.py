"""Async actions as Voucherify reports them: ``GET /v1/async-actions/{id}`` and the list.

``AsyncAction`` (with ``ActionStatus``, and ``ImportResult`` for a finished orders import) ignores
unknown fields, so a new field in the API's answers never breaks a running backfill.
:func:`parse_action_list` reads a list page into an ``ActionList``, validating only the entries a
waiter asks for.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator
from typing_extensions import TypedDict


class ActionStatus(str, Enum):
    """Status of an async action."""

    ENQUEUED = "ENQUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in (ActionStatus.DONE, ActionStatus.FAILED)


class FailedOrder(BaseModel):
    """An order an import could not store, with the API's reason."""

    model_config = ConfigDict(extra="ignore")

    source_id: str | None = None
    reason: str = ""


class ImportResult(BaseModel):
    """``result`` of a finished ``ORDERS.IMPORT`` async action."""

    model_config = ConfigDict(extra="ignore")

    message: str | None = None
    done_count: int = 0
    failed_count: int = 0
    failed: list[FailedOrder] = Field(default_factory=list)

    @field_validator("failed", mode="before")
    @classmethod
    def _failed_as_list(cls, value: Any) -> Any:
        # The spec types `failed` as one object; the API returns a list (docs/architecture.md).
        if value is None:
            return []
        if isinstance(value, Mapping):
            return [value]
        return value


class AsyncAction(BaseModel):
    """An async action as ``GET /v1/async-actions[/{id}]`` returns it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    type: str | None = None
    status: ActionStatus
    progress: int | None = None
    result: ImportResult | dict[str, Any] | None = None
    request_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    processing_time: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _typed_result(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("type") == "ORDERS.IMPORT" and data.get("result"):
            data = dict(data)
            data["result"] = ImportResult.model_validate(data["result"])
        return data

    @property
    def import_result(self) -> ImportResult | None:
        """The import's result, when this is a finished orders import."""
        return self.result if isinstance(self.result, ImportResult) else None


class ActionList(list[AsyncAction]):
    """A page of ``GET /v1/async-actions``, possibly holding only the entries asked for.

    :param page_size: how many entries the page had, read or not
    :param last_created_at: ``created_at`` of the page's last (oldest) entry: the next page's cursor
    """

    def __init__(
        self,
        actions: Iterable[AsyncAction] = (),
        *,
        page_size: int = 0,
        last_created_at: datetime | None = None,
    ) -> None:
        super().__init__(actions)
        self.page_size = page_size
        self.last_created_at = last_created_at


class ActionWindow(ActionList):
    """A whole list window read page by page for several waiters at once (a shared read), holding
    the entries one of them asked for: its reader pages no further.

    :param page_size: how many entries the read's pages had in all
    :param last_created_at: ``created_at`` of the oldest entry read
    :param calls: the list calls the read made
    :param widened: its first page was short (the asked-for ids plus a few) and missed some of
        this waiter's ids, so the read went on with full pages
    """

    def __init__(
        self,
        actions: Iterable[AsyncAction] = (),
        *,
        page_size: int = 0,
        last_created_at: datetime | None = None,
        calls: int = 1,
        widened: bool = False,
    ) -> None:
        super().__init__(actions, page_size=page_size, last_created_at=last_created_at)
        self.calls = calls
        self.widened = widened


class _ListEntry(TypedDict, total=False):
    """A list entry, as plain JSON values: the fields ``AsyncAction`` reads, nothing converted."""

    id: Any
    type: Any
    status: Any
    progress: Any
    result: Any
    request_id: Any
    created_at: Any
    updated_at: Any
    processing_time: Any


class _ListPage(TypedDict, total=False):
    async_actions: list[_ListEntry] | None


# Reading the page through this skeleton (in pydantic-core) skips the fields no model reads and
# builds no model: about half the CPU of json.loads over a page of 100 entries.
_LIST_PAGE = TypeAdapter(_ListPage)


def parse_action_list(content: bytes, ids: Collection[str] | None = None) -> ActionList:
    """The ``async_actions`` of a list answer; with ``ids``, only those entries are validated.

    A page holds up to 100 entries and a waiter looks for a few of them: validating only those
    (and the last entry, for the cursor) is what keeps a triggerer with hundreds of waits cheap.

    :raises pydantic.ValidationError: the answer is not JSON, or not a page of entries
        (``ValidationError`` is a ``ValueError``)
    """
    entries = _LIST_PAGE.validate_json(content).get("async_actions") or []
    wanted = entries if ids is None else [entry for entry in entries if entry.get("id") in ids]
    actions = [AsyncAction.model_validate(entry) for entry in wanted]
    last_created_at = None
    if entries:
        last = entries[-1]
        read = actions[-1] if wanted and wanted[-1] is last else AsyncAction.model_validate(last)
        last_created_at = read.created_at
    return ActionList(actions, page_size=len(entries), last_created_at=last_created_at)
