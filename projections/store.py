"""The SQL the projectors run against the event store and the dead-letter table, their
notification channels and their advisory locks (the positions: projections.positions)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import psycopg
from psycopg import sql

from ledger import contract, personal, upcasting
from projections.events import EVENT_COLUMNS, Event, decode_rows

# The channel the projectors announce progress on (payload '<projection>:<position>') and the
# one the library's recorder notifies on every append: ledger.contract declares both.
PROGRESS_CHANNEL = contract.PROGRESS_CHANNEL
EVENTS_CHANNEL = contract.EVENTS_CHANNEL
# First half of each projection's advisory-lock key; the second is hashtext(name).
ADVISORY_CLASS = 7_355_608

Conn = psycopg.Connection[Any]

_TAKE_DEAD_LETTERS = sql.SQL(
    "WITH taken AS (DELETE FROM projection_dead_letters WHERE projection = %s "
    "RETURNING position) SELECT {columns} FROM ledger_events "
    "WHERE notification_id IN (SELECT position FROM taken) ORDER BY notification_id"
).format(columns=sql.SQL(EVENT_COLUMNS))


def read_events(
    conn: Conn,
    after: int,
    limit: int,
    upto: int | None = None,
    names: Collection[str] | None = None,
) -> list[Event[Any]]:
    """Up to `limit` events after position `after` (and at most `upto`), in store order; only
    those named in `names` when given (the database skips the others, so they are neither
    sent nor decoded), or stored under an older name the upcasters map to one of them."""
    where = ["notification_id > %s"]
    params: list[Any] = [after]
    if upto is not None:
        where.append("notification_id <= %s")
        params.append(upto)
    if names is not None:
        # The event name is the topic's part after its last dot (split_part from the end
        # needs PostgreSQL 14).
        where.append("split_part(topic, '.', -1) = ANY(%s)")
        params.append(sorted(upcasting.stored_names(names)))
    params.append(limit)
    query = (
        f"SELECT {EVENT_COLUMNS} FROM ledger_events WHERE {' AND '.join(where)} "  # noqa: S608 - constant columns and conditions  # nosec B608
        "ORDER BY notification_id LIMIT %s"
    )
    rows = conn.execute(query, params).fetchall()
    return decode_rows(rows, personal.ring().lookup(conn))


def count_events(conn: Conn, after: int, upto: int) -> int:
    """How many events the store holds after position `after`, up to `upto`."""
    row = conn.execute(
        "SELECT count(*) FROM ledger_events WHERE notification_id > %s AND notification_id <= %s",
        (after, upto),
    ).fetchone()
    return int(row[0]) if row else 0


def head(conn: Conn) -> int:
    """The store's last position (0 when empty)."""
    row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM ledger_events").fetchone()
    return int(row[0]) if row else 0


def parked_aggregates(conn: Conn, projection: str) -> set[str]:
    rows = conn.execute(
        "SELECT DISTINCT originator_id FROM projection_dead_letters WHERE projection = %s",
        (projection,),
    ).fetchall()
    return {r[0] for r in rows}


def park(conn: Conn, projection: str, event: Event[Any], error: str) -> None:
    conn.execute(
        "INSERT INTO projection_dead_letters "
        "(projection, position, originator_id, originator_version, topic, error) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (projection, position) "
        "DO UPDATE SET error = EXCLUDED.error, parked_at = now()",
        (projection, event.position, event.originator_id, event.version, event.name, error[:2000]),
    )


def take_dead_letters(conn: Conn, projection: str) -> list[Event[Any]]:
    """Removes the projection's dead letters and returns their events, in store order."""
    rows = conn.execute(_TAKE_DEAD_LETTERS, (projection,)).fetchall()
    return decode_rows(rows, personal.ring().lookup(conn))


def drop_dead_letters(conn: Conn, projection: str) -> None:
    conn.execute("DELETE FROM projection_dead_letters WHERE projection = %s", (projection,))


def move_dead_letters(conn: Conn, source: str, target: str) -> None:
    """`source`'s dead letters replace `target`'s (a rebuild's swap: the shadow's)."""
    drop_dead_letters(conn, target)
    conn.execute(
        "UPDATE projection_dead_letters SET projection = %s WHERE projection = %s",
        (target, source),
    )


def try_lead(conn: Conn, name: str) -> bool:
    """Takes the projection's session advisory lock if no other worker holds it."""
    row = conn.execute(
        "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (ADVISORY_CLASS, name)
    ).fetchone()
    return bool(row and row[0])
