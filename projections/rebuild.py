"""Zero-downtime rebuilds: replay the whole store into shadow tables, then swap them in.

The live projection keeps running while the shadow fills. Once the shadow has caught up, one
transaction locks the projection's tracking row (so the live worker pauses between batches),
applies the last few events to the shadow, renames the shadow tables over the live ones and
moves the position. Readers wait a few milliseconds on the rename and never see an empty or
half-built table."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from projections import store
from projections.applier import Applier
from projections.base import Projection
from projections.changes import Changes, Table
from projections.events import Event

SHADOW = "__rebuild"
REBUILD_BATCH = 20_000
_INDEX_NAME = re.compile(r"INDEX (\S+) ON (\S+)")


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

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def rebuild(
    database_url: str,
    projection: Projection,
    *,
    progress: Callable[[Progress], None] | None = None,
    batch_size: int = REBUILD_BATCH,
) -> RebuildResult:
    """Rebuilds `projection` from the whole store and swaps the result in atomically.

    The rebuild replays every event of the store, but asks the database only for the events
    the projection handles (the others are neither sent nor decoded); `events` in the result
    counts the whole store it went through, as the position does."""
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn:
        # Nothing reads the shadow tables before the swap, and the swap's own commit is
        # synchronous (flushing the WAL of every batch before it), so the batches need not
        # wait for their WAL to reach the disk.
        conn.execute("SET synchronous_commit TO off")
        conn.commit()
        types, indexes = _prepare_shadow(conn, projection)
        shadow = _Shadow(projection, types)
        position, events = 0, 0
        while True:
            with conn.transaction():
                position, read, seen = shadow.step(conn, position, batch_size)
                events += seen
                conn.execute(
                    "UPDATE projection_positions SET rebuild_position = %s, rebuild_target = %s "
                    "WHERE name = %s",
                    (position, shadow.head, projection.name),
                )
            if progress:
                elapsed = time.perf_counter() - started
                rate = events / max(elapsed, 1e-9)
                progress(Progress(projection.name, position, shadow.head, rate))
            if read < batch_size:
                break
        with conn.transaction():
            for definition in indexes:  # built once, over the whole table: far cheaper
                conn.execute(definition)
        with conn.transaction():
            conn.execute("SET LOCAL synchronous_commit TO on")
            store.lock_position(conn, projection.name)  # the live worker pauses here
            while True:
                position, read, seen = shadow.step(conn, position, batch_size)
                events += seen
                if read < batch_size:
                    break
            _swap(conn, projection, position)
    seconds = time.perf_counter() - started
    return RebuildResult(projection.name, events, position, seconds, shadow.parked)


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
    conn: psycopg.Connection[Any], projection: Projection
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
    return types, indexes


def _swap(conn: psycopg.Connection[Any], projection: Projection, position: int) -> None:
    """Renames each shadow table over its live one, keeping the live index names."""
    for table in projection.tables:
        live = table.name
        old, shadow = live + "__old", live + SHADOW
        index_names = _index_names(conn, live)
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(live)))
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
    conn.execute(
        "UPDATE projection_positions SET rebuild_started_at = NULL, rebuild_position = NULL, "
        "rebuild_target = NULL WHERE name = %s",
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
    """Cleans up after a rebuild that did not finish (its shadow tables and progress)."""
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
