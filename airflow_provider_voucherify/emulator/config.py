"""Emulator configuration: projects (credential pairs) and server-wide settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_voucherify.emulator.faults import FaultConfig

DEFAULT_APP_ID = "emulator-app-id"
DEFAULT_APP_TOKEN = "emulator-app-token"  # noqa: S105 - a well-known local test credential
MAX_ORDERS_PER_IMPORT = 2000
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_ITEMS_PER_ORDER = 500


@dataclass(frozen=True)
class Project:
    """One Voucherify project: its own data and import queue, reached with one id/token pair."""

    app_id: str
    app_token: str = field(repr=False)


@dataclass
class EmulatorConfig:
    db_path: Path
    projects: tuple[Project, ...] = (Project(DEFAULT_APP_ID, DEFAULT_APP_TOKEN),)
    host: str = "127.0.0.1"
    port: int = 8000
    orders_per_second: float = 2000.0  # 0 means unlimited
    rate_limit_per_minute: int = 0  # 0 means off
    bulk_calls_per_hour: int = 0  # 0 means off
    faults: FaultConfig = field(default_factory=FaultConfig)
    # Metadata schemas by resource (``order``, ``order_item``, ...), as ``schemas.SchemaBook`` takes them.
    metadata_schemas: dict[str, Any] = field(default_factory=dict)


def load_projects(path: Path) -> tuple[Project, ...]:
    """Read ``[{"app_id": ..., "app_token": ...}, ...]``; ids must be unique."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{path}: expected a non-empty JSON array of projects")
    projects: list[Project] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(key), str) and entry[key] for key in ("app_id", "app_token")
        ):
            raise ValueError(f"{path}: project [{index}] needs non-empty string app_id and app_token")
        projects.append(Project(entry["app_id"], entry["app_token"]))
    if len({project.app_id for project in projects}) != len(projects):
        raise ValueError(f"{path}: app_id values must be unique")
    return tuple(projects)
