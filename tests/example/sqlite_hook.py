"""A stand-in for a common SQL hook over a SQLite file: what ``example.extract.SqlHook`` uses."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


class SqliteHook:
    placeholder = "?"

    def __init__(self, path: Path) -> None:
        self.path = path

    def get_conn(self) -> Any:
        return sqlite3.connect(self.path)
