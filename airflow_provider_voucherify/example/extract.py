"""Stream the rows of a SQL query from any common SQL hook, one fetch at a time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

DEFAULT_FETCH_SIZE = 1000


class SqlHook(Protocol):
    """What is used of ``airflow.providers.common.sql.hooks.sql.DbApiHook``."""

    @property
    def placeholder(self) -> str: ...

    def get_conn(self) -> Any: ...


def _cursor(conn: Any) -> Any:
    # psycopg (2 and 3) keep a whole result set in client memory unless the cursor is named
    # (server-side); drivers without named cursors (sqlite3, Snowflake, BigQuery...) already
    # stream what ``fetchmany`` asks for and refuse the keyword.
    try:
        return conn.cursor(name="voucherify_extract")
    except TypeError:
        return conn.cursor()


def stream_rows(
    hook: SqlHook, sql: str, parameters: Sequence[Any] = (), *, fetch_size: int = DEFAULT_FETCH_SIZE
) -> Iterator[dict[str, Any]]:
    """Yield each row of ``sql`` as a dict keyed by lower-case column name.

    ``sql`` may contain ``{placeholder}`` once per parameter; it is replaced by the hook's own
    paramstyle (``?`` for SQLite, ``%s`` for Postgres, Snowflake, BigQuery...), so one query text
    serves every warehouse. At most ``fetch_size`` rows are held at a time.
    """
    query = sql.replace("{placeholder}", hook.placeholder)
    conn = hook.get_conn()
    try:
        cursor = _cursor(conn)
        try:
            cursor.execute(query, tuple(parameters))
            names: list[str] | None = None
            while rows := cursor.fetchmany(fetch_size):
                if names is None:
                    # A named cursor describes its columns only after the first fetch.
                    names = [column[0].lower() for column in cursor.description]
                for row in rows:
                    yield dict(zip(names, row, strict=True))
        finally:
            cursor.close()
    finally:
        conn.close()
