"""One step of a projection: lock its position, read the next events, apply, record, commit.

The live path sends a step as two round trips (psycopg pipeline mode): BEGIN plus one
statement that locks the position row, reads the events after it and counts the projection's
dead letters; then the projection's writes, the position update with its notification, and
COMMIT. If any of those writes fails, the step is rolled back and done again the careful way
(`_careful_step`: one event at a time under savepoints, parking what cannot be applied)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from projections import store
from projections.applier import Applier
from projections.events import EVENT_COLUMNS, decode
from projections.store import Conn

# The position row locked (FOR UPDATE: every writer of a projection takes that lock first),
# the dead letters counted, and the events after the position, in one statement. Its rows
# are (position, dead letters, *EVENT_COLUMNS); with no event after the position, one row
# whose event columns are NULL. READ COMMITTED: if the lock had to wait, the position is the
# newest one and the events come from the statement's snapshot, a prefix of the store (its
# appends are serialised), so nothing is skipped or read twice.
_LOCK_AND_READ = sql.SQL(
    "WITH p AS (SELECT position FROM projection_positions WHERE name = %(name)s FOR UPDATE) "
    "SELECT p.position, "
    "(SELECT count(*) FROM projection_dead_letters WHERE projection = %(dead)s), {columns} "
    "FROM p LEFT JOIN LATERAL (SELECT {columns} FROM ledger_events "
    "WHERE notification_id > p.position ORDER BY notification_id LIMIT %(limit)s) e ON true "
    "ORDER BY e.notification_id"
).format(columns=sql.SQL(EVENT_COLUMNS))
# The new position and its notification (delivered when the transaction commits), in one.
_SAVE_POSITION = (
    "UPDATE projection_positions SET position = %(position)s, updated_at = now() "
    "WHERE name = %(name)s RETURNING pg_notify(%(channel)s, %(payload)s)"
)


@dataclass(frozen=True)
class Step:
    read: int
    applied: int
    parked: int
    position: int


class _NoPositionRowError(Exception):
    """The fast path cannot do this step (no position row yet)."""


def step(conn: Conn, applier: Applier, batch_size: int) -> Step:
    """Applies up to `batch_size` events after the projection's position, exactly once: the
    rows and the new position commit together, or neither does."""
    try:
        return _fast_step(conn, applier, batch_size)
    except _NoPositionRowError:
        pass
    except psycopg.DatabaseError as exc:
        if isinstance(exc, psycopg.OperationalError):
            raise  # the connection is gone: the worker reconnects
        # A write failed (a poison event): nothing of the step committed.
    return _careful_step(conn, applier, batch_size)


def _fast_step(conn: Conn, applier: Applier, batch_size: int) -> Step:
    name = applier.projection.name
    with conn.pipeline(), conn.transaction():
        rows = conn.execute(
            _LOCK_AND_READ,
            {"name": name, "dead": applier.dead_letter_name, "limit": batch_size},
        ).fetchall()
        if not rows:
            raise _NoPositionRowError
        position, dead_letters = rows[0][0], rows[0][1]
        if rows[0][2] is None:
            return Step(0, 0, 0, position)
        events = [decode(row[2:]) for row in rows]
        # Without dead letters nothing is parked behind one: no need to ask which.
        parked: set[str] | None = None if dead_letters else set()
        result = applier.apply(conn, events, parked=parked, savepoint=False)
        position = events[-1].position
        conn.execute(
            _SAVE_POSITION,
            {
                "position": position,
                "name": name,
                "channel": store.PROGRESS_CHANNEL,
                "payload": f"{name}:{position}",
            },
        )
    return Step(len(events), result.applied, result.parked, position)


def _careful_step(conn: Conn, applier: Applier, batch_size: int) -> Step:
    name = applier.projection.name
    with conn.transaction():
        position = store.lock_position(conn, name)
        events = store.read_events(conn, position, batch_size)
        if not events:
            return Step(0, 0, 0, position)
        result = applier.apply(conn, events)
        position = events[-1].position
        store.save_position(conn, name, position)
    return Step(len(events), result.applied, result.parked, position)
