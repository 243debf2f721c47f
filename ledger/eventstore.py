"""The event store: the `eventsourcing` library's PostgreSQL recorder, configured from a URL.

Alembic creates its tables (`ledger db upgrade`), so the library's own table creation is off.
Every connection gets lock and statement timeouts, so a stuck transaction fails fast instead of
freezing the writers. `Committed` is what the ledger's `save` returns: the recordings and when
their transaction committed. (Group commit is ledger.group_commit.)"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
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

from ledger import appends
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
    """A group's append conflicted, and the store holds newer versions of these aggregates
    than the group was to append: another writer moved them on, and the commands that decided
    on them must load them again (after looking their ids up, like any conflict: a command
    that already committed conflicts with its own events). Nothing of the group committed."""

    def __init__(self, ids: frozenset[str]) -> None:
        super().__init__(f"another writer moved {', '.join(sorted(ids))} on")
        self.ids = ids


class LedgerRecorder(LedgerAggregateRecorder, PostgresApplicationRecorder):
    """The event store's recorder (the library's, table lock and all), appending with the
    bounded retry policy and the commands' id rows in one round trip, and, for a group commit
    that conflicted, saying which aggregates another writer moved on (`StaleAggregateError`)."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, check_stale: bool = False, **kwargs: Any
    ) -> Sequence[int] | None:
        try:
            return _bounded(lambda: self._append(stored_events, **kwargs))
        except IntegrityError:
            # Nothing was committed. Which of them does the store hold newer versions of? The
            # answer cannot change back (events are never removed), so no lock is needed.
            stale = frozenset(self._moved_on(stored_events)) if check_stale else frozenset()
            if stale:
                raise StaleAggregateError(stale) from None
            raise

    def _append(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        commands: Sequence[CommandRecord] = (),
        **_: Any,
    ) -> Sequence[int] | None:
        """The library's insert (id rows, table lock, NOTIFY, events RETURNING their
        notification ids, one transaction) sent as one pipeline with its COMMIT: the table
        lock is held for the server's work only, never across a round trip to a client busy
        with other threads. A duplicate key (another writer's version, or a committed
        command's id row: the caller resolves that by the id, ledger.command_log) rolls it all
        back and raises when the pipeline syncs at COMMIT."""
        error: Exception | None = None
        with self.datastore.get_connection() as conn:  # turns psycopg's errors into the library's
            with conn.pipeline(), conn.cursor() as curs, conn.cursor() as insert:
                try:
                    with conn.transaction():
                        record(curs, commands)
                        if stored_events:
                            self._lock_table(curs)
                            self._notify_appended(curs, stored_events)
                            PostgresAggregateRecorder._insert_stored_events(
                                self, insert, stored_events
                            )
                    # Committed: the inserted rows' notification ids have arrived.
                    return (
                        self._fetch_ids_after_insert_events(insert, stored_events)
                        if stored_events
                        else []
                    )
                except Exception as exc:  # re-raised once the pipeline is closed (no warning)
                    error = exc
            raise error

    def _notify_appended(self, curs: Any, stored_events: Sequence[StoredEvent]) -> None:
        """The library's notification of an append, saying which aggregates it moved to
        which versions (ledger.appends): delivered when the transaction commits."""
        payload = appends.encode(
            (str(e.originator_id), int(e.originator_version)) for e in stored_events
        )
        # A statement with parameters (NOTIFY takes none): prepared once, never composed.
        curs.execute("SELECT pg_notify(%s, %s)", (self.channel_name, payload))

    def _moved_on(self, stored_events: Sequence[StoredEvent]) -> list[str]:
        """The aggregates among `stored_events` of which the store already holds the first
        version they were to append (versions have no gaps, so any later one implies it)."""
        first = first_versions(stored_events)
        with self.datastore.get_connection() as conn:
            rows = conn.execute(self._moved_on_statement, (list(first), list(first.values())))
            return [str(row["originator_id"]) for row in rows]

    @property
    def _moved_on_statement(self) -> Composed:
        # One primary-key probe each (a join on `>=` let the planner scan the table).
        return SQL(
            "SELECT b.originator_id"
            " FROM unnest(%s::text[], %s::bigint[]) AS b(originator_id, originator_version)"
            " WHERE EXISTS (SELECT FROM {0}.{1} e WHERE e.originator_id = b.originator_id"
            " AND e.originator_version = b.originator_version)"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))


def first_versions(events: Iterable[Any]) -> dict[str, int]:
    """The first version each aggregate among `events` (stored or domain events) appends."""
    first: dict[str, int] = {}
    for event in events:
        key, version = str(event.originator_id), int(event.originator_version)
        first[key] = min(version, first.get(key, version))
    return first


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
