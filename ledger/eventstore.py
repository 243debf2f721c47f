"""The event store: the `eventsourcing` library's PostgreSQL recorder, configured from a URL.

Alembic creates its tables (`ledger db upgrade`), so the library's own table creation is off.
Every connection gets lock and statement timeouts, so a stuck transaction fails fast instead of
freezing the writers. `GroupCommit` lets concurrent commands share one transaction."""

from __future__ import annotations

import threading
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

from ledger.command_log import CommandRecord, record
from ledger.settings import Settings
from ledger.slow_queries import TimedCursor

# The application's name: the library derives the events table from it (`ledger_events`).
APP_NAME = "Ledger"
EVENTS_TABLE = "ledger_events"
SNAPSHOTS_TABLE = "ledger_snapshots"
NOTIFY_CHANNEL = EVENTS_TABLE
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


class LedgerRecorder(LedgerAggregateRecorder, PostgresApplicationRecorder):
    """The event store's recorder (the library's, table lock and all), appending with the
    bounded retry policy too."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        insert = PostgresApplicationRecorder.insert_events.__wrapped__
        ids: Sequence[int] | None = _bounded(lambda: insert(self, stored_events, **kwargs))
        return ids

    def _insert_events(
        self,
        curs: Any,
        stored_events: Sequence[StoredEvent],
        *,
        commands: Sequence[CommandRecord] = (),
        **kwargs: Any,
    ) -> None:
        """Records the commands' ids in the transaction inserting their events: after a lost
        COMMIT reply the id tells whether they committed (ledger.command_log). A retried
        insert of a committed command fails on these keys, and the caller resolves it."""
        record(curs, commands)


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


# Most events one group commit writes. One `save` of about 1,300 events (some 700 kB) hung for
# good here inside psycopg's pipeline over a Unix socket (the server waiting to read, the client
# waiting to write); 1,000 went through. Groups stay well below that.
MAX_GROUP_EVENTS = 300


class _Ticket:
    """One command's events waiting to be committed, and what became of them."""

    __slots__ = (
        "aggregates",
        "command",
        "committed_at",
        "error",
        "events",
        "ids",
        "recordings",
    )

    def __init__(
        self, aggregates: Sequence[Any], command_id: str | None, aggregate_id: str
    ) -> None:
        self.aggregates = list(aggregates)
        # Collected now, so a failed group can still save them one command at a time.
        self.events = [e for a in self.aggregates for e in a.collect_events()]
        self.ids = frozenset(a.id for a in self.aggregates)
        self.command = (
            CommandRecord(
                command_id,
                aggregate_id,
                tuple(dict.fromkeys(a.id for a in self.aggregates)),
                tuple((str(e.originator_id), int(e.originator_version)) for e in self.events),
            )
            if command_id and self.events
            else None
        )
        self.recordings: list[Recording[str]] | None = None
        self.error: BaseException | None = None
        self.committed_at = 0.0

    @property
    def done(self) -> bool:
        return self.recordings is not None or self.error is not None


class GroupCommit:
    """Saves the events of concurrent commands in one transaction (group commit).

    The library's recorder takes the events table's EXCLUSIVE lock and commits once per
    `save`, so concurrent writers queue on that lock and on one WAL flush each. Here the first
    command to arrive becomes the leader: it saves every command queued so far whose aggregates
    are disjoint from the others' in one `Application.save`, and the rest wait for it. If that
    transaction fails on a conflict (another process changed one of the aggregates), the
    leader saves each command on its own, so only the command that really conflicts sees an
    IntegrityError and retries. Aggregate caching and snapshots are the library's, because
    every aggregate still goes through `save`."""

    def __init__(
        self,
        save: Callable[..., list[Recording[str]]],
        max_commands: int = 64,
        max_events: int = MAX_GROUP_EVENTS,
        committed_at: Callable[[], float] = time.monotonic,
    ) -> None:
        self._save = save  # the application's `save`
        # When the last `save` on this thread committed (monotonic seconds): `save` does more
        # after its commit (snapshots), so the application can tell.
        self._committed_at = committed_at
        self._local = threading.local()
        self._max = max_commands
        self._max_events = max_events
        self._cond = threading.Condition()
        self._queue: list[_Ticket] = []
        self._flushing = False

    def save(
        self, aggregates: Sequence[Any], command_id: str | None = None, aggregate_id: str = ""
    ) -> list[Recording[str]]:
        """Saves the aggregates' pending events (with other commands' when they are
        concurrent), and the command's id row in the same transaction; raises what saving
        them alone would have raised."""
        ticket = _Ticket(aggregates, command_id, aggregate_id)
        with self._cond:
            self._queue.append(ticket)
            while True:
                if ticket.done:
                    break
                if self._flushing:
                    self._cond.wait()
                    continue
                self._flushing = True
                batch = self._take()
                self._cond.release()
                try:
                    self._flush(batch)
                finally:
                    self._cond.acquire()
                    self._flushing = False
                    self._cond.notify_all()
        if ticket.error is not None:
            raise ticket.error
        self._local.committed_at = ticket.committed_at
        return ticket.recordings or []

    def last_committed_at(self) -> float:
        """When the calling thread's last successful `save` committed (monotonic seconds)."""
        return float(getattr(self._local, "committed_at", 0.0))

    def _take(self) -> list[_Ticket]:
        """The oldest queued commands whose aggregates do not overlap (called locked)."""
        batch: list[_Ticket] = []
        claimed: set[str] = set()
        events = 0
        for ticket in self._queue:
            if len(batch) == self._max:
                break
            if batch and events + len(ticket.events) > self._max_events:
                continue
            if claimed.isdisjoint(ticket.ids):
                batch.append(ticket)
                claimed |= ticket.ids
                events += len(ticket.events)
        taken = {id(t) for t in batch}
        self._queue = [t for t in self._queue if id(t) not in taken]
        return batch

    def _flush(self, batch: list[_Ticket]) -> None:
        if len(batch) > 1:
            try:
                recordings = self._save(*_objects(batch), commands=_commands(batch))
            except IntegrityError:
                pass  # someone else's write conflicts with one of them: go one by one
            except BaseException as exc:
                for ticket in batch:
                    ticket.error = exc
                return
            else:
                committed_at = self._committed_at()
                by_id: dict[str, list[Recording[str]]] = {}
                for recording in recordings:
                    by_id.setdefault(recording.domain_event.originator_id, []).append(recording)
                for ticket in batch:
                    ticket.recordings = [r for i in ticket.ids for r in by_id.get(i, [])]
                    ticket.committed_at = committed_at
                return
        for ticket in batch:
            try:
                ticket.recordings = self._save(*_objects([ticket]), commands=_commands([ticket]))
                ticket.committed_at = self._committed_at()
            except BaseException as exc:
                ticket.error = exc


def _objects(batch: Sequence[_Ticket]) -> list[Any]:
    """The events to record, then their aggregates: their pending events are already
    collected, but `save` still caches them and takes their snapshots."""
    return [e for t in batch for e in t.events] + [a for t in batch for a in t.aggregates]


def _commands(batch: Sequence[_Ticket]) -> list[CommandRecord]:
    """The id rows of the batch's commands, committed with their events."""
    return [t.command for t in batch if t.command is not None]
