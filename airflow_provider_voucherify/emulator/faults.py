"""Fault injection: failing, slow and dropped answers and whole-import failures, repeatable by seed."""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from airflow_provider_voucherify.emulator.plans import PLANS


class OrderAlteration(BaseModel):
    """Change stored orders behind the client's back (see ``alterations.py``), to prove reconciliation."""

    model_config = ConfigDict(extra="forbid")

    share: float = Field(gt=0.0, le=1.0)
    fields: list[Literal["amount", "item_quantity", "metadata_date", "customer", "deleted"]] = Field(
        min_length=1
    )
    metadata_key: str = "original_created_at"


class FaultConfig(BaseModel):
    """What ``POST /_emulator/faults`` accepts; every field is optional and ``{}`` means no faults."""

    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(0.0, ge=0.0, le=1.0)
    error_statuses: list[int] = Field(default_factory=lambda: [500, 502, 503], min_length=1)
    latency_seconds: float = Field(0.0, ge=0.0, le=600.0)
    drop_rate: float = Field(0.0, ge=0.0, le=1.0)
    fail_imports: int = Field(0, ge=0)
    # No queued import starts while true (one already started runs on): a test that must see a
    # wait in progress holds the queue until it has seen it, instead of racing the import's speed.
    hold_imports: bool = False
    # Answer every API call (of `paths`, when given) 200 with an HTML page, before authenticating,
    # as a host that is not the API does: the dashboard's address, a captive proxy's login page.
    html_page: bool = False
    # As the API's own example shows: failed orders reported with "source_id": null.
    failed_without_source_id: int = Field(0, ge=0)
    # Rate limits: a plan preset replacing the server's limits, and numbers replacing its own.
    plan: Literal[tuple(PLANS)] | None = None  # type: ignore[valid-type]
    rate_limit_per_minute: int | None = Field(None, ge=0)
    rate_limit_per_hour: int | None = Field(None, ge=0)
    bulk_calls_per_hour: int | None = Field(None, ge=0)
    calls_per_cycle: int | None = Field(None, ge=0)
    retry_after_seconds: int | None = Field(None, ge=1)
    # Exports created while set end with this status instead of DONE: ERROR (the spec's failure)
    # or any other text (a final status a client does not know).
    export_status: str | None = Field(None, pattern=r"^[A-Z][A-Z_]*$")
    # The header row of export files: keys (source_id) or labels (Source ID); None: --export-header.
    export_header: Literal["keys", "labels"] | None = None
    seed: int | None = None
    paths: list[str] | None = None
    alter_orders: OrderAlteration | None = None

    @field_validator("error_statuses")
    @classmethod
    def _server_errors_only(cls, statuses: list[int]) -> list[int]:
        if any(not 500 <= status <= 599 for status in statuses):
            raise ValueError("error_statuses must be 5xx codes")
        return statuses


class FaultInjector:
    """Holds the active fault config and the seeded generator that decides each request's fate."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        self.imports_to_fail = config.fail_imports
        # A fresh generator per configuration: the same seed and request sequence give the same faults.
        self.rng = random.Random(config.seed)
        self.altered_orders: list[dict[str, str]] = []

    def describe(self) -> dict[str, Any]:
        return {
            **self.config.model_dump(),
            "fail_imports_remaining": self.imports_to_fail,
            "altered_orders": self.altered_orders,
        }

    def applies_to(self, path: str, template: str) -> bool:
        paths = self.config.paths
        return paths is None or path in paths or template in paths

    def draw_error_status(self) -> int | None:
        if self.config.error_rate > 0 and self.rng.random() < self.config.error_rate:
            return self.rng.choice(self.config.error_statuses)
        return None

    def draw_drop(self) -> bool:
        return self.config.drop_rate > 0 and self.rng.random() < self.config.drop_rate

    def take_import_failure(self) -> bool:
        """Whether the import being accepted now must end ``FAILED`` (consumes one ``fail_imports``)."""
        if self.imports_to_fail > 0:
            self.imports_to_fail -= 1
            return True
        return False

    def reported(self, action: dict[str, Any]) -> dict[str, Any]:
        """``action`` as answered: the first ``failed_without_source_id`` failed orders of its
        result lose their ``source_id`` (the stored result is not changed)."""
        hidden = self.config.failed_without_source_id
        result = action.get("result")
        if not hidden or not isinstance(result, dict) or not result.get("failed"):
            return action
        failed = [
            {**entry, "source_id": None} if index < hidden else entry
            for index, entry in enumerate(result["failed"])
        ]
        return {**action, "result": {**result, "failed": failed}}
