"""The event store: the `eventsourcing` library's PostgreSQL recorder, configured from a URL.

Alembic creates its tables (`ledger db upgrade`), so the library's own table creation is off.
Every connection gets lock and statement timeouts, so a stuck transaction fails fast instead of
freezing the writers. `Committed` is what the ledger's `save` returns: the recordings and when
their transaction committed. (Group commit is ledger.group_commit.)"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    Recording,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
)
from eventsourcing.utils import Environment
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Composed, Identifier

from ledger.command_log import CommandRecord, record
from ledger.contract import EVENTS_TABLE as EVENTS_TABLE
from ledger.contract import SNAPSHOTS_TABLE as SNAPSHOTS_TABLE
from ledger.settings import Settings
from ledger.slow_queries import TimedCursor

# The application's name: the library derives the store's tables from it (EVENTS_TABLE and
# SNAPSHOTS_TABLE, re-exported here from ledger.contract, which declares them).
APP_NAME = "Ledger"
CONNECT_TIMEOUT_SECONDS = 2
# psycopg_pool retries a lost connection with doubling delays for reconnect_timeout (5 minutes
# by default): after a long outage the pool could wait half a minute before trying again. A
# short budget makes it give up and start afresh, at a one-second delay, on the next request.
RECONNECT_TIMEOUT_SECONDS = 5.0
# A dropped connection is retried once; anything slower must fail fast and visibly.
ATTEMPTS = 2
RETRY_WAIT_SECONDS = 0.1
T = TypeVar("T")


def session_options(settings: Settings) -> str:
    """libpq `options` that bound how long one statement or one lock wait may take."""
    lock_ms = int(settings.ledger_lock_timeout_seconds * 1000)
    statement_ms = int(settings.ledger_statement_timeout_seconds * 1000)
    return f"-c lock_timeout={lock_ms} -c statement_timeout={statement_ms}"


def library_env(database_url: str, settings: Settings, pool_size: int) -> dict[str, str]:
    """The environment variables the library reads, derived from one database URL."""
    params = conninfo_to_dict(database_url)
    return {
        # The library reads PERSISTENCE_MODULE before its legacy FACTORY_TOPIC: naming the
        # postgres module there would silently bypass LedgerFactory (timeouts, bounded retries).
        "PERSISTENCE_MODULE": f"{__name__}:LedgerFactory",
        "ORIGINATOR_ID_TYPE": "text",
        "CREATE_TABLE": "no",
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "localhost"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "0",
        "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_SECONDS),
        "POSTGRES_LOCK_TIMEOUT": str(max(1, int(settings.ledger_lock_timeout_seconds))),
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
        "POSTGRES_PRE_PING": "y",
        "LEDGER_PG_OPTIONS": session_options(settings),
    }


def _bounded(call: Callable[[], T]) -> T:
    """Runs a recorder call, retrying a lost connection once but never a lock or statement
    timeout: the library's own policy (ten attempts of each) would turn a stuck lock or a
    database outage into a command that hangs for most of a minute."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return call()
        except (InterfaceError, OperationalError) as exc:
            timed_out = isinstance(
                exc.__cause__, psycopg.errors.LockNotAvailable | psycopg.errors.QueryCanceled
            )
            if timed_out or attempt == ATTEMPTS:
                raise
            time.sleep(RETRY_WAIT_SECONDS)
    raise AssertionError("unreachable")  # pragma: no cover


class LedgerAggregateRecorder(PostgresAggregateRecorder):
    """The library's recorder, reading an aggregate's events with the bounded retry policy
    (the snapshot store uses it as it is)."""

    def select_events(self, *args: Any, **kwargs: Any) -> Sequence[StoredEvent]:
        select = PostgresAggregateRecorder.select_events.__wrapped__
        return _bounded(lambda: select(self, *args, **kwargs))


class StaleAggregateError(IntegrityError):
    """Another writer has committed newer events of these aggregates than the ones about to be
    appended (seen under the table lock, before anything was inserted): the commands that
    decided on them must load them again. Nothing of the transaction was committed."""

    def __init__(self, ids: frozenset[str]) -> None:
        super().__init__(f"another writer moved {', '.join(sorted(ids))} on")
        self.ids = ids


class LedgerRecorder(LedgerAggregateRecorder, PostgresApplicationRecorder):
    """The event store's recorder (the library's, table lock and all), appending with the
    bounded retry policy, with the commands' id rows, and, for a group commit, checking under
    the lock which aggregates another writer moved on (`StaleAggregateError`) instead of failing
    the whole group on the first duplicate key."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        return _bounded(lambda: self._append(stored_events, **kwargs))

    def _append(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        commands: Sequence[CommandRecord] = (),
        check_stale: bool = False,
        **_: Any,
    ) -> Sequence[int] | None:
        """The library's pipelined insert (id rows, table lock, NOTIFY, events RETURNING their
        notification ids, one transaction), with the staleness check after the lock. A
        command's id row makes a retried insert of a committed command fail on its key; the
        caller resolves that by the id (ledger.command_log)."""
        error: Exception | None = None
        with self.datastore.get_connection() as conn:  # turns psycopg's errors into the library's
            with conn.pipeline() as pipeline:
                try:
                    with conn.transaction():  # any exception rolls it back, id rows and all
                        return self._insert(conn, pipeline, stored_events, commands, check_stale)
                except Exception as exc:  # re-raised once the pipeline is closed (no warning)
                    error = exc
            raise error

    def _insert(
        self,
        conn: Any,
        pipeline: Any,
        stored_events: Sequence[StoredEvent],
        commands: Sequence[CommandRecord],
        check_stale: bool,
    ) -> Sequence[int]:
        with conn.cursor() as curs:
            record(curs, commands)
        if not stored_events:
            return []
        with conn.cursor() as curs:
            self._lock_table(curs)
            stale = check_stale and _moved_on(curs, self._events_table, stored_events)
            if stale:
                raise StaleAggregateError(stale)
            self._notify_channel(curs)
        with conn.cursor() as curs:
            PostgresAggregateRecorder._insert_stored_events(self, curs, stored_events)
            # Synced here, so a duplicate key raises now, not at COMMIT.
            pipeline.sync()
            return self._fetch_ids_after_insert_events(curs, stored_events) or []

    @property
    def _events_table(self) -> Composed:
        return SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )


def _moved_on(curs: Any, table: Composed, stored_events: Sequence[StoredEvent]) -> frozenset[str]:
    """The aggregates among `stored_events` of which the store already holds the first
    version about to be appended, or a later one."""
    first: dict[str, int] = {}
    for event in stored_events:
        key = str(event.originator_id)
        first[key] = min(first.get(key, event.originator_version), event.originator_version)
    curs.execute(
        SQL(
            "SELECT DISTINCT e.originator_id FROM {0} e"
            " JOIN unnest(%s::text[], %s::bigint[]) AS b(originator_id, originator_version)"
            " ON e.originator_id = b.originator_id"
            " AND e.originator_version >= b.originator_version"
        ).format(table),
        (list(first), list(first.values())),
    )
    return frozenset(str(row["originator_id"]) for row in curs.fetchall())


class LedgerFactory(PostgresFactory):
    """The library's PostgreSQL factory, with the bounded recorders and session timeouts on
    every pooled connection."""

    aggregate_recorder_class = LedgerAggregateRecorder
    application_recorder_class = LedgerRecorder

    def __init__(self, env: Environment) -> None:
        super().__init__(env)
        kwargs: dict[str, Any] = self.datastore.pool.kwargs  # type: ignore[assignment]
        options = env.get("LEDGER_PG_OPTIONS")
        if options:
            kwargs["options"] = options
        kwargs["cursor_factory"] = TimedCursor
        self.datastore.pool.reconnect_timeout = RECONNECT_TIMEOUT_SECONDS


class Committed(list[Recording[str]]):
    """The recordings of one transaction, and when it committed (`time.monotonic()` seconds):
    the ledger's `save` does more after its commit (snapshots), so its caller can tell."""

    def __init__(self, recordings: Sequence[Recording[str]] = (), committed_at: float = 0.0):
        super().__init__(recordings)
        self.committed_at = committed_at or time.monotonic()
