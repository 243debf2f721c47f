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
    """Rebuilds `projection` from the whole store and swaps the result in atomically."""
    started = time.perf_counter()
    applier = Applier(projection, suffix=SHADOW)
    with psycopg.connect(database_url) as conn:
        _prepare_shadow(conn, projection)
        position, events, parked = 0, 0, 0
        while True:
            with conn.transaction():
                batch = store.read_events(conn, position, batch_size)
                if batch:
                    parked += applier.apply(conn, batch).parked
                    position = batch[-1].position
                    events += len(batch)
                total = store.head(conn)
                conn.execute(
                    "UPDATE projection_positions SET rebuild_position = %s, rebuild_target = %s "
                    "WHERE name = %s",
                    (position, total, projection.name),
                )
            if progress:
                elapsed = time.perf_counter() - started
                progress(Progress(projection.name, position, total, events / max(elapsed, 1e-9)))
            if len(batch) < batch_size:
                break
        with conn.transaction():
            store.lock_position(conn, projection.name)  # the live worker pauses here
            while batch := store.read_events(conn, position, batch_size):
                parked += applier.apply(conn, batch).parked
                position = batch[-1].position
                events += len(batch)
            _swap(conn, projection, position)
    return RebuildResult(projection.name, events, position, time.perf_counter() - started, parked)


def _prepare_shadow(conn: psycopg.Connection[Any], projection: Projection) -> None:
    with conn.transaction():
        store.lock_position(conn, projection.name)
        conn.execute(
            "UPDATE projection_positions SET rebuild_started_at = now(), rebuild_position = 0, "
            "rebuild_target = (SELECT coalesce(max(notification_id), 0) FROM ledger_events) "
            "WHERE name = %s",
            (projection.name,),
        )
        for table in projection.tables:
            live, shadow = sql.Identifier(table.name), sql.Identifier(table.name + SHADOW)
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(shadow))
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(shadow, live))
        conn.execute(
            "DELETE FROM projection_dead_letters WHERE projection = %s",
            (projection.name + SHADOW,),
        )


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
