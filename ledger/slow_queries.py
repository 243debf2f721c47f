"""Slow-query logging: psycopg cursors that time each statement and log those above a threshold.

Used by every connection the ledger opens (the event store's pool, the projectors, the API's
read pool) through `cursor_factory`, so one setting (LEDGER_SLOW_QUERY_MS) covers them all."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from ledger.logs import get_logger

log = get_logger("ledger.db")
_threshold_seconds = 0.2


def set_threshold(milliseconds: float) -> None:
    """Sets the duration above which a statement is logged (process-wide)."""
    global _threshold_seconds  # one process-wide setting, set at start-up
    _threshold_seconds = milliseconds / 1000


def _report(query: Any, started: float) -> None:
    elapsed = time.perf_counter() - started
    if elapsed >= _threshold_seconds:
        text = query.as_string() if isinstance(query, psycopg.sql.Composable) else str(query)
        # The statement's text only: parameters may carry personal data and are never logged.
        log.warning("slow query", duration_ms=round(elapsed * 1000, 1), query=text[:500])


class TimedCursor(psycopg.Cursor[Any]):
    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> TimedCursor:
        started = time.perf_counter()
        try:
            super().execute(query, params, **kwargs)
        finally:
            _report(query, started)
        return self


class TimedAsyncCursor(psycopg.AsyncCursor[Any]):
    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> TimedAsyncCursor:
        started = time.perf_counter()
        try:
            await super().execute(query, params, **kwargs)
        finally:
            _report(query, started)
        return self
