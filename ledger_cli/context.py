"""What every CLI command needs: the settings, the database URL, the application."""

from __future__ import annotations

from functools import cache

from ledger import slow_queries
from ledger.application import Ledger
from ledger.database import database_url
from ledger.logs import configure_logging
from ledger.settings import Settings, load_settings


@cache
def settings() -> Settings:
    loaded = load_settings()
    configure_logging(loaded.effective_log_format, loaded.log_level)
    slow_queries.set_threshold(loaded.ledger_slow_query_ms)
    return loaded


@cache
def url() -> str:
    """DATABASE_URL, or the embedded server under the data folder (started if need be)."""
    return database_url(settings())


def ledger(pool_size: int = 4) -> Ledger:
    return Ledger(settings(), url(), pool_size=pool_size)
