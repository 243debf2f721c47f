"""What every CLI command needs: the settings, the database URL, the application.

Imported by every command module, so it imports nothing heavy at the top: the settings, the
database and the application are loaded when a command first asks for them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import psycopg

    from ledger.application import Ledger
    from ledger.settings import Settings

T = TypeVar("T")

# A command that answers and exits logs only warnings, unless LOG_LEVEL asks for more, so its
# output is its own; the long-running services (`serve`, `projector run`) log at LOG_LEVEL.
QUIET_LOG_LEVEL = "WARNING"
_service = {"on": False}


def as_service() -> None:
    """Called by a long-running command before it reads the settings: log at LOG_LEVEL."""
    _service["on"] = True


@cache
def settings() -> Settings:
    from ledger import personal, slow_queries
    from ledger.logs import configure_logging
    from ledger.settings import load_settings

    loaded = load_settings()
    chosen = _service["on"] or "log_level" in loaded.model_fields_set
    configure_logging(loaded.effective_log_format, loaded.log_level if chosen else QUIET_LOG_LEVEL)
    slow_queries.set_threshold(loaded.ledger_slow_query_ms)
    personal.configure(loaded.secret_key)
    return loaded


@cache
def url() -> str:
    """DATABASE_URL, or the embedded server under the data folder (started if need be)."""
    from ledger.database import database_url

    return database_url(settings())


def ledger(pool_size: int = 4) -> Ledger:
    from ledger.application import Ledger

    return Ledger(settings(), url(), pool_size=pool_size)


def read(run: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    """`run` on a connection to the read tables (rows as dicts), as the API's reads take it."""
    import psycopg
    from psycopg.rows import dict_row

    async def go() -> T:
        async with await psycopg.AsyncConnection.connect(url(), row_factory=dict_row) as conn:
            return await run(conn)

    return asyncio.run(go())
