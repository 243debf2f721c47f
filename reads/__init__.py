"""The read side: plain SQL over the projection tables (and the API's own state tables), shared
by the HTTP API and the CLI. It imports neither of them.

Never the event store, never an aggregate replay."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

Conn = AsyncConnection[DictRow]
ReadPool = AsyncConnectionPool[Conn]


def like_pattern(text: str) -> str:
    """A substring pattern for ILIKE, with the user's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def where(fixed: list[str], compared: dict[str, Any]) -> tuple[sql.SQL, list[Any]]:
    """A WHERE condition: the `fixed` fragments, and each `compared` fragment whose value is
    not None, with its value as the parameter (a tuple: one per %s of the fragment)."""
    clauses = list(fixed)
    params: list[Any] = []
    for fragment, value in compared.items():
        if value is not None:
            clauses.append(fragment)
            params.extend(value if isinstance(value, tuple) else (value,))
    # Only fixed fragments go into the text; every value is a parameter.
    return sql.SQL(" AND ".join(clauses or ["TRUE"])), params
