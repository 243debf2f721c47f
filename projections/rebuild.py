"""Zero-downtime rebuilds: replay the whole store into shadow tables, then swap them in.

The live projection keeps running while the shadow fills. Once the shadow has caught up, one
transaction locks the projection's tracking row (so the live worker pauses between batches),
applies the last few events to the shadow, renames the shadow tables over the live ones, moves
the position and bumps the projection's generation. Readers wait a few milliseconds on the
rename and never see an empty or half-built table.

One rebuild per projection runs at a time, across processes and hosts: a rebuild holds a
session advisory lock, keyed by the projection's name, on a connection of its own from start to
end, and a second one is refused (RebuildRunningError) before it touches anything. Every
transaction that writes the shadow tables checks, before it commits, that the lock is still
held, so a rebuild whose lock connection died cannot swap in tables another one recreated.

The swap waits for ACCESS EXCLUSIVE on the live tables at most SWAP_LOCK_TIMEOUT per attempt
(readers queue behind that request meanwhile): behind a long reader (a pg_dump, a session idle
in transaction) it rolls back, lets the readers through, and tries again with a short backoff,
until `swap_timeout` has passed; then it fails (SwapTimeoutError) with the live tables intact."""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from ledger.logs import get_logger
from projections import store
from projections.applier import Applier
from projections.base import Projection
from projections.changes import Changes, Table
from projections.events import Event

SHADOW = "__rebuild"
REBUILD_BATCH = 20_000
# The advisory-lock key of a rebuild of projection NAME is hashtext(LOCK_PREFIX || NAME).
LOCK_PREFIX = "ledger.rebuild:"
# The longest a swap attempt waits for the live tables (readers queue behind it meanwhile).
SWAP_LOCK_TIMEOUT = 0.15
# How long a rebuild keeps trying to swap behind long readers before it gives up.
SWAP_TIMEOUT = 600.0
# The pause after a failed attempt: doubled after each one, up to the maximum.
SWAP_BACKOFF = 0.1
SWAP_BACKOFF_MAX = 1.0
_INDEX_NAME = re.compile(r"INDEX (\S+) ON (\S+)")
_LOCK_HOLDERS = (
    "SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start "
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext(%s)::bigint"
)
log = get_logger("ledger.rebuild")


class RebuildError(Exception):
    """A rebuild that could not run or finish; the message is one line for the operator."""


class RebuildRunningError(RebuildError):
    """Another rebuild of the projection holds its lock."""


class RebuildLockLostError(RebuildError):
    """The rebuild's lock connection is gone: another rebuild may have started."""


class SwapTimeoutError(RebuildError):
    """Long readers kept the live tables locked for longer than the swap may wait."""


@dataclass(frozen=True)
class Progress:
    projection: str
    done: int
    total: int
    events_per_second: float

    @property
    def eta_seconds(self) -> float | None:
        if self.events_per_second <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.events_per_second)


@dataclass(frozen=True)
class RebuildResult:
    projection: str
    events: int
    position: int
    seconds: float
    parked: int
    # How many times the swap tried for the live tables' lock (1: at once).
    swap_attempts: int = 1

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class RebuildLock:
    """The session advisory locks of a few projections' rebuilds, held on a connection of
    their own (closing it releases them, as a crash of the process does)."""

    def __init__(self, conn: psycopg.Connection[Any], names: Collection[str]) -> None:
        self.conn = conn
        self.names = frozenset(names)
        self.pid = conn.info.backend_pid

    def check(self, conn: psycopg.Connection[Any], name: str) -> None:
        """Raises unless this lock still holds `name`'s rebuild, asked on `conn` inside the
        caller's transaction: a transaction that checks just before it commits wrote the
        shadow tables while no other rebuild could recreate them (a newcomer's DROP waits for
        the commit)."""
        row = conn.execute(_LOCK_HOLDERS + " AND l.pid = %s", (LOCK_PREFIX + name, self.pid))
        if row.fetchone() is None:
            raise RebuildLockLostError(
                f"the rebuild of {name} lost its lock (its lock connection is gone); "
                "nothing was swapped in"
            )


@contextmanager
def exclusive(database_url: str, names: Collection[str]) -> Iterator[RebuildLock]:
    """Takes the rebuild lock of every projection in `names`, or none: raises
    RebuildRunningError, naming each one already running and who runs it."""
    conn = psycopg.connect(
        database_url,
        autocommit=True,
        application_name=f"ledger rebuild pid {os.getpid()} on {socket.gethostname()}"[:63],
    )
    try:
        refused: list[str] = []
        for name in names:
            row = conn.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s)::bigint)", (LOCK_PREFIX + name,)
            ).fetchone()
            if not (row and row[0]):
                refused.append(f"a rebuild of {name} is already running ({_holder(conn, name)})")
        if refused:
            raise RebuildRunningError("; ".join(refused))
        yield RebuildLock(conn, names)
    finally:
        conn.close()  # releases the locks


def _holder(conn: psycopg.Connection[Any], name: str) -> str:
    row = conn.execute(_LOCK_HOLDERS, (LOCK_PREFIX + name,)).fetchone()
    if row is None:
        return "it has just finished: try again"
    pid, application, address, since = row
    who = application or "an unnamed session"
    where = f" from {address}" if address else ""
    when = f", since {since:%Y-%m-%d %H:%M:%S %Z}" if since else ""
    return f"{who}, database pid {pid}{where}{when}"


def rebuild(
    database_url: str,
    projection: Projection,
    *,
    progress: Callable[[Progress], None] | None = None,
    batch_size: int = REBUILD_BATCH,
    lock: RebuildLock | None = None,
    lock_timeout: float = SWAP_LOCK_TIMEOUT,
    swap_timeout: float = SWAP_TIMEOUT,
) -> RebuildResult:
    """Rebuilds `projection` from the whole store and swaps the result in atomically.

    The rebuild replays every event of the store, but asks the database only for the events
    the projection handles (the others are neither sent nor decoded); `events` in the result
    counts the whole store it went through, as the position does.

    It takes the projection's rebuild lock (RebuildRunningError if another rebuild holds it),
    unless the caller holds it already in `lock` (`exclusive`, for several at once). A rebuild
    that fails cleans up its shadow tables and progress while it still holds the lock."""
    if lock is None:
        with exclusive(database_url, [projection.name]) as held:
            return rebuild(
                database_url, projection, progress=progress, batch_size=batch_size, lock=held,
                lock_timeout=lock_timeout, swap_timeout=swap_timeout,
            )  # fmt: skip
    if projection.name not in lock.names:
        raise ValueError(f"the lock given does not hold the rebuild of {projection.name}")
    try:
        return _rebuild(
            database_url, projection, lock, progress, batch_size, lock_timeout, swap_timeout
        )
    except BaseException:
        try:
            # On the lock's connection: if that is gone, so is the lock, and the shadow
            # tables may be another rebuild's now.
            abandon(lock.conn, projection)
        except Exception as exc:  # the original failure is the one to report
            log.warning("rebuild cleanup failed", projection=projection.name, error=str(exc))
        raise


def _rebuild(
    database_url: str,
    projection: Projection,
    lock: RebuildLock,
    progress: Callable[[Progress], None] | None,
    batch_size: int,
    lock_timeout: float,
    swap_timeout: float,
) -> RebuildResult:
    started = time.perf_counter()
    with psycopg.connect(database_url, application_name="ledger rebuild") as conn:
        # Nothing reads the shadow tables before the swap, and the swap's own commit is
        # synchronous (flushing the WAL of every batch before it), so the batches need not
        # wait for their WAL to reach the disk.
        conn.execute("SET synchronous_commit TO off")
        conn.commit()
        types, indexes = _prepare_shadow(conn, projection, lock)
        shadow = _Shadow(projection, types)
        fill = _Fill(conn, lock, shadow, batch_size, progress, started)
        fill.catch_up()
        with conn.transaction():
            for definition in indexes:  # built once, over the whole table: far cheaper
                conn.execute(definition)
            lock.check(conn, projection.name)
        deadline = time.monotonic() + swap_timeout
        backoff, attempts = SWAP_BACKOFF, 0
        while True:
            attempts += 1
            fill.catch_up()  # most of what came in meanwhile, outside the swap's transaction
            position, events, parked = fill.position, fill.events, shadow.parked
            try:
                with conn.transaction():
                    conn.execute("SET LOCAL synchronous_commit TO on")
                    store.lock_position(conn, projection.name)  # the live worker pauses here
                    fill.catch_up(in_transaction=True)
                    _lock_live_tables(conn, projection, lock_timeout)
                    _swap(conn, projection, fill.position)
                    lock.check(conn, projection.name)
                break
            except psycopg.errors.LockNotAvailable:
                # Rolled back: the shadow is where the last committed batch left it.
                fill.position, fill.events, shadow.parked = position, events, parked
                blockers = _blockers(conn, projection)
                if time.monotonic() + backoff > deadline:
                    raise SwapTimeoutError(
                        f"the rebuild of {projection.name} could not lock "
                        f"{', '.join(t.name for t in projection.tables)} for its swap in "
                        f"{swap_timeout:.0f} s ({attempts} attempts; held by {blockers}); "
                        "the live tables are unchanged"
                    ) from None
                log.warning(
                    "rebuild swap waiting for long readers", projection=projection.name,
                    attempt=attempts, retry_in_seconds=backoff, blockers=blockers,
                )  # fmt: skip
                time.sleep(backoff)
                backoff = min(backoff * 2, SWAP_BACKOFF_MAX)
    seconds = time.perf_counter() - started
    return RebuildResult(
        projection.name, fill.events, fill.position, seconds, shadow.parked, attempts
    )


class _Fill:
    """Applies the store to the shadow tables, batch by batch, from where it left off."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        lock: RebuildLock,
        shadow: _Shadow,
        batch_size: int,
        progress: Callable[[Progress], None] | None,
        started: float,
    ) -> None:
        self.conn, self.lock, self.shadow = conn, lock, shadow
        self.batch_size, self.progress, self.started = batch_size, progress, started
        self.position, self.events = 0, 0

    def catch_up(self, *, in_transaction: bool = False) -> None:
        """Up to the store's head: each batch committed on its own (its progress recorded),
        or all of them inside the caller's transaction."""
        name = self.shadow.projection.name
        while True:
            if in_transaction:
                read = self._step()
            else:
                with self.conn.transaction():
                    read = self._step()
                    self.conn.execute(
                        "UPDATE projection_positions SET rebuild_position = %s, "
                        "rebuild_target = %s WHERE name = %s",
                        (self.position, self.shadow.head, name),
                    )
                    self.lock.check(self.conn, name)
                if self.progress:
                    rate = self.events / max(time.perf_counter() - self.started, 1e-9)
                    self.progress(Progress(name, self.position, self.shadow.head, rate))
            if read < self.batch_size:
                return

    def _step(self) -> int:
        self.position, read, seen = self.shadow.step(self.conn, self.position, self.batch_size)
        self.events += seen
        return read


class _Shadow:
    """Writes a projection's events into its shadow tables.

    The fast path folds a batch straight into one Changes and loads the new rows with COPY
    (the shadow tables start empty, and the projections' upserts create rows: an order, its
    lines, its history). Anything unusual goes the live projector's way instead, through the
    Applier, so live and rebuilt tables agree: a handler that raises, a write that fails (the
    Applier replays the batch one event at a time and parks the culprit), and every batch after
    a dead letter (later events of its aggregate park behind it). COPY that meets a key already
    written (or fails otherwise) is rolled back and the batch flushed with the upserts; COPY is
    then off for the rest of the rebuild."""

    def __init__(self, projection: Projection, copy: dict[Table, dict[str, int]]) -> None:
        self.projection = projection
        self.names = projection.event_names
        self.applier = Applier(projection, suffix=SHADOW)
        self.copy = copy
        self.parked = 0
        self.head = 0

    def step(self, conn: psycopg.Connection[Any], after: int, limit: int) -> tuple[int, int, int]:
        """Applies up to `limit` handled events after position `after`; returns the position
        reached, how many events were read and how many store events that covered."""
        self.head = store.head(conn)
        batch = store.read_events(conn, after, limit, upto=self.head, names=self.names)
        if batch:
            self._apply(conn, batch)
        upto = batch[-1].position if len(batch) == limit else self.head
        return upto, len(batch), store.count_events(conn, after, upto) if upto > after else 0

    def _apply(self, conn: psycopg.Connection[Any], events: list[Event]) -> None:
        if self.parked:
            self.parked += self.applier.apply(conn, events).parked
            return
        changes = Changes()
        handler_for = self.projection.handler_for
        try:
            for event in events:
                handler = handler_for(event.name)
                if handler is not None:
                    handler(event, changes)
        except Exception:  # the Applier parks the event that raised, and applies the rest
            self.parked += self.applier.apply(conn, events).parked
            return
        if self.copy and self._copy(conn, changes):
            return
        try:
            with conn.transaction():
                changes.flush(conn, SHADOW)
        except psycopg.DatabaseError as exc:
            if isinstance(exc, psycopg.OperationalError):
                raise
            self.parked += self.applier.apply(conn, events).parked

    def _copy(self, conn: psycopg.Connection[Any], changes: Changes) -> bool:
        try:
            with conn.transaction():
                changes.flush(conn, SHADOW, self.copy)
        except psycopg.OperationalError:
            raise
        except Exception:  # any COPY failure: the plain flush decides
            self.copy = {}
            return False
        return True


def _prepare_shadow(
    conn: psycopg.Connection[Any], projection: Projection, lock: RebuildLock
) -> tuple[dict[Table, dict[str, int]], list[sql.SQL]]:
    """Creates the empty shadow tables; returns each one's column types, for COPY, and the
    indexes to build once they are full.

    A shadow table gets its primary key and unique constraints at once (the upserts and the
    duplicate checks need them), and its plain indexes after the bulk of the load: building an
    index over a full table is much cheaper than updating it row by row."""
    with conn.transaction():
        store.lock_position(conn, projection.name)
        conn.execute(
            "UPDATE projection_positions SET rebuild_started_at = now(), rebuild_position = 0, "
            "rebuild_target = (SELECT coalesce(max(notification_id), 0) FROM ledger_events) "
            "WHERE name = %s",
            (projection.name,),
        )
        types: dict[Table, dict[str, int]] = {}
        indexes: list[sql.SQL] = []
        for table in projection.tables:
            live, shadow = sql.Identifier(table.name), sql.Identifier(table.name + SHADOW)
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(shadow))
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(shadow, live))
            rows = conn.execute(
                "SELECT attname, atttypid::int FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (table.name + SHADOW,),
            ).fetchall()
            types[table] = {str(name): int(oid) for name, oid in rows}
            plain = conn.execute(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND NOT i.indisprimary "
                "AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
                "ORDER BY c.relname",
                (table.name + SHADOW,),
            ).fetchall()
            for name, definition in plain:
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
                indexes.append(sql.SQL(definition))
        conn.execute(
            "DELETE FROM projection_dead_letters WHERE projection = %s",
            (projection.name + SHADOW,),
        )
        lock.check(conn, projection.name)
    return types, indexes


def _lock_live_tables(
    conn: psycopg.Connection[Any], projection: Projection, timeout: float
) -> None:
    """Takes ACCESS EXCLUSIVE on every live table of the projection, waiting `timeout` in all
    (readers of a table already locked queue meanwhile), else raises LockNotAvailable."""
    deadline = time.monotonic() + timeout
    for table in projection.tables:
        left_ms = max(1, round((deadline - time.monotonic()) * 1000))
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{left_ms}ms",))
        conn.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(table.name))
        )
    conn.execute("SET LOCAL lock_timeout TO DEFAULT")  # the rest waits on no one


def _blockers(conn: psycopg.Connection[Any], projection: Projection) -> str:
    """The oldest transactions holding locks on the live tables, for the operator."""
    rows = conn.execute(
        "SELECT DISTINCT a.pid, a.state, a.application_name, "
        "extract(epoch FROM now() - a.xact_start)::int AS age "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.granted AND l.relation = ANY(%s::regclass[]) AND l.pid <> pg_backend_pid() "
        "ORDER BY age DESC NULLS LAST LIMIT 3",
        ([t.name for t in projection.tables],),
    ).fetchall()
    conn.rollback()  # the query began a transaction
    if not rows:
        return "nobody now"
    return ", ".join(
        f"pid {pid} ({application or 'unnamed'}, {state}, transaction {age} s old)"
        for pid, state, application, age in rows
    )


def _swap(conn: psycopg.Connection[Any], projection: Projection, position: int) -> None:
    """Renames each shadow table over its live one (locked already), keeping the live index
    names; moves the position and bumps the generation."""
    for table in projection.tables:
        live = table.name
        old, shadow = live + "__old", live + SHADOW
        index_names = _index_names(conn, live)
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(*map(sql.Identifier, (live, old)))
        )
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(*map(sql.Identifier, (shadow, live)))
        )
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(old)))
        for shape, name in _index_names(conn, live).items():
            wanted = index_names.get(shape)
            if wanted and wanted != name:
                _rename(conn, "INDEX", name, wanted)
    conn.execute("DELETE FROM projection_dead_letters WHERE projection = %s", (projection.name,))
    conn.execute(
        "UPDATE projection_dead_letters SET projection = %s WHERE projection = %s",
        (projection.name, projection.name + SHADOW),
    )
    # A new generation: caches keyed by it drop what they read from the replaced tables, even
    # when the position stays the same.
    conn.execute(
        "UPDATE projection_positions SET rebuild_started_at = NULL, rebuild_position = NULL, "
        "rebuild_target = NULL, generation = generation + 1 WHERE name = %s",
        (projection.name,),
    )
    store.save_position(conn, projection.name, position)


def _rename(conn: psycopg.Connection[Any], kind: str, name: str, new_name: str) -> None:
    statement = sql.SQL("ALTER {} {} RENAME TO {}").format(
        sql.SQL(kind), sql.Identifier(name), sql.Identifier(new_name)
    )
    conn.execute(statement)


def _index_names(conn: psycopg.Connection[Any], table: str) -> dict[str, str]:
    """The table's indexes by shape (their definition without names) -> name."""
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = %s",
        (table,),
    ).fetchall()
    return {_INDEX_NAME.sub("INDEX ON", definition): name for name, definition in rows}


def abandon(conn: psycopg.Connection[Any], projection: Projection) -> None:
    """Cleans up after a rebuild that did not finish (its shadow tables and progress). Only
    the holder of the projection's rebuild lock may: `rebuild` does, on the lock's connection."""
    with conn.transaction():
        for table in projection.tables:
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table.name + SHADOW))
            )
        conn.execute(
            "UPDATE projection_positions SET rebuild_started_at = NULL, rebuild_position = NULL, "
            "rebuild_target = NULL WHERE name = %s",
            (projection.name,),
        )
        conn.execute(
            "DELETE FROM projection_dead_letters WHERE projection = %s",
            (projection.name + SHADOW,),
        )
