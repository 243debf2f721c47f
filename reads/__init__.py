"""The read side: plain SQL over the projection tables (and the API's own state tables), shared
by the HTTP API and the CLI. It imports neither of them.

Never the event store, never an aggregate replay."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

Conn = AsyncConnection[DictRow]
ReadPool = AsyncConnectionPool[Conn]


def like_pattern(text: str) -> str:
    """A substring pattern for ILIKE, with the user's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
