"""Emulator configuration: projects (credential pairs) and server-wide settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_voucherify.emulator.faults import FaultConfig
from airflow_provider_voucherify.emulator.plans import plan_limits

DEFAULT_APP_ID = "emulator-app-id"
DEFAULT_APP_TOKEN = "emulator-app-token"  # noqa: S105 - a well-known local test credential
MAX_ORDERS_PER_IMPORT = 2000
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_ITEMS_PER_ORDER = 500


@dataclass(frozen=True)
class Project:
    """One Voucherify project: its own data and import queue, reached with one id/token pair.

    Projects of one ``organization`` share its plan's rate limits; a project with a ``plan`` of
    its own (a Sandbox project, say) is counted on its own.
    """

    app_id: str
    app_token: str = field(repr=False)
    organization: str = ""
    plan: str | None = None


@dataclass
class EmulatorConfig:
    db_path: Path
    projects: tuple[Project, ...] = (Project(DEFAULT_APP_ID, DEFAULT_APP_TOKEN),)
    host: str = "127.0.0.1"
    port: int = 8000
    orders_per_second: float = 2000.0  # 0 means unlimited (emulated seconds)
    # Limits: the plan's preset, and explicit numbers replacing its own (None: the preset's; 0: off).
    plan: str = "unlimited"
    rate_limit_per_minute: int | None = None
    rate_limit_per_hour: int | None = None
    bulk_calls_per_hour: int | None = None
    calls_per_cycle: int | None = None
    time_scale: float = 1.0  # emulated seconds per real second
    import_overhead_seconds: float = 0.0  # emulated seconds each async action takes before its first record
    # The import endpoint's body limit is undocumented (the framework's default is 1 MiB): tests
    # lower it to prove that clients split batches and learn it from the 413.
    max_body_bytes: int = MAX_BODY_BYTES
    faults: FaultConfig = field(default_factory=FaultConfig)
    # Exports: rows per emulated second (None: --orders-per-second; 0: no wait), emulated seconds
    # SCHEDULED, the header row's form, and a second server for downloads (None: the API's port).
    export_rows_per_second: float | None = None
    export_overhead_seconds: float = 0.0
    export_header: str = "keys"
    download_port: int | None = None
    download_host: str = "localhost"
    # Metadata schemas by resource (``order``, ``order_item``, ...), as ``schemas.SchemaBook`` takes them.
    metadata_schemas: dict[str, Any] = field(default_factory=dict)


def load_projects(path: Path) -> tuple[Project, ...]:
    """Read ``[{"app_id": ..., "app_token": ..., "organization": ..., "plan": ...}, ...]``.

    ``organization`` and ``plan`` are optional; ids must be unique.
    """
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{path}: expected a non-empty JSON array of projects")
    projects: list[Project] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(key), str) and entry[key] for key in ("app_id", "app_token")
        ):
            raise ValueError(f"{path}: project [{index}] needs non-empty string app_id and app_token")
        organization, plan = entry.get("organization", ""), entry.get("plan")
        if not isinstance(organization, str) or not (plan is None or isinstance(plan, str)):
            raise ValueError(f"{path}: project [{index}] organization and plan must be strings")
        if plan is not None:
            plan_limits(plan)  # an unknown name fails here, naming the known ones
        projects.append(Project(entry["app_id"], entry["app_token"], organization, plan))
    if len({project.app_id for project in projects}) != len(projects):
        raise ValueError(f"{path}: app_id values must be unique")
    return tuple(projects)
