"""Every statement on `projection_positions`: each projection's position (locked by every
writer of the projection, saved with its notification), its rebuild's progress columns and its
generation. The tracking protocol (projections.tracking), the rebuild (projections.rebuild,
projections.swap) and the status (projections.status) run these and write no SQL of their own
on the table."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, NamedTuple

from psycopg import sql

from ledger import personal
from projections.events import EVENT_COLUMNS, Event, decode_rows
from projections.store import PROGRESS_CHANNEL, Conn

# The position row locked (FOR UPDATE: every writer of a projection takes that lock first)
# with the version that built the tables, the dead letters counted, and the events after the
# position, in one statement. Its rows are (position, version, dead letters, *EVENT_COLUMNS);
# with no event after the position, one row whose event columns are NULL. READ COMMITTED: if
# the lock had to wait, the position is the newest one and the events come from the
# statement's snapshot, a prefix of the store (its appends are serialised), so nothing is
# skipped or read twice.
_LOCK_AND_READ = sql.SQL(
    "WITH p AS (SELECT position, version FROM projection_positions WHERE name = %(name)s "
    "FOR UPDATE) SELECT p.position, p.version, "
    "(SELECT count(*) FROM projection_dead_letters WHERE projection = %(dead)s), {columns} "
    "FROM p LEFT JOIN LATERAL (SELECT {columns} FROM ledger_events "
    "WHERE notification_id > p.position ORDER BY notification_id LIMIT %(limit)s) e ON true "
    "ORDER BY e.notification_id"
).format(columns=sql.SQL(EVENT_COLUMNS))
# The new position and its notification (delivered when the transaction commits), in one.
_SAVE = (
    "UPDATE projection_positions SET position = %(position)s, updated_at = now() "
    "WHERE name = %(name)s RETURNING pg_notify(%(channel)s, %(payload)s)"
)
_NO_REBUILD = "rebuild_started_at = NULL, rebuild_position = NULL, rebuild_target = NULL"

# One row per projection: its tracking row (with the version that built its tables), dead
# letters, whether a worker holds its
# advisory lock in this database (pg_locks lists the whole server's), how many events it is
# behind (capped, so a far-behind projection stays cheap to count), the state of its oldest
# pending event (for the lag in seconds), and the head. Parameters: cls (the workers'
# advisory-lock class), names.
STATUS = """
SELECT n.name, coalesce(p.position, 0), p.version, p.updated_at, p.rebuild_started_at,
       p.rebuild_position, p.rebuild_target,
       (SELECT count(*) FROM projection_dead_letters d WHERE d.projection = n.name),
       EXISTS (
           SELECT 1 FROM pg_locks l
           WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %(cls)s::bigint::oid
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
             AND l.objid = (hashtext(n.name)::bigint & 4294967295)::oid AND l.objsubid = 2
       ),
       (SELECT count(*) FROM (
            SELECT 1 FROM ledger_events e
            WHERE e.notification_id > coalesce(p.position, 0) LIMIT 10000000) behind),
       (SELECT e.state FROM ledger_events e WHERE e.notification_id > coalesce(p.position, 0)
        ORDER BY e.notification_id LIMIT 1),
       (SELECT coalesce(max(notification_id), 0) FROM ledger_events)
FROM unnest(%(names)s::text[]) WITH ORDINALITY AS n(name, ord)
LEFT JOIN projection_positions p ON p.name = n.name
ORDER BY n.ord
"""


class VersionMismatchError(Exception):
    """The projection's tables were built by another version of its code than this one's:
    applying events to them would mix two shapes (`Projection.version`)."""

    def __init__(self, name: str, tables: int, code: int) -> None:
        self.name, self.tables, self.code = name, tables, code
        if tables < code:
            what = (
                f"{name}'s tables are version {tables} and this code builds version {code}: "
                f"run `ledger projections rebuild {name}`; until its swap, a projector of "
                f"version {tables} keeps them up to date"
            )
        else:
            what = (
                f"{name}'s tables are version {tables}, built by a newer release, and this "
                f"code builds version {code}: a projector of version {tables} keeps them up "
                "to date (or rebuild them with this release to go back)"
            )
        super().__init__(what)


def lock(conn: Conn, name: str, version: int | None = None) -> int:
    """Locks the projection's tracking row (creating it) for this transaction and returns its
    position.

    Every writer of a projection takes this lock first, so a live worker, a retry of dead
    letters and a rebuild's swap never apply the same events twice. With `version` (the
    code's `Projection.version`), raises VersionMismatchError when the tables were built by
    another version, unless nothing is built yet (position 0: the version is recorded)."""
    conn.execute(
        "INSERT INTO projection_positions (name, version) VALUES (%s, %s) "
        "ON CONFLICT (name) DO NOTHING",
        (name, version or 1),
    )
    row = conn.execute(
        "SELECT position, version FROM projection_positions WHERE name = %s FOR UPDATE", (name,)
    ).fetchone()
    if row is None:  # pragma: no cover - inserted just above
        raise RuntimeError(f"projection {name} has no tracking row")
    position, built = int(row[0]), int(row[1])
    if version is not None and built != version:
        if position:
            raise VersionMismatchError(name, built, version)
        conn.execute(
            "UPDATE projection_positions SET version = %s WHERE name = %s", (version, name)
        )
    return position


def built_version(conn: Conn, name: str) -> int | None:
    """The version of the code that built the projection's tables; None before any did (a
    projection at position 0 counts as none: any version may start it)."""
    row = conn.execute(
        "SELECT version FROM projection_positions WHERE name = %s AND position > 0", (name,)
    ).fetchone()
    return int(row[0]) if row else None


class Locked(NamedTuple):
    """What `lock_and_read` found: the position, the version that built the tables, how many
    dead letters there are, the events read (only those asked for), how many rows were read
    and the position of the last one (the position the step reaches)."""

    position: int
    version: int
    dead_letters: int
    events: list[Event[Any]]
    read: int
    last: int


def lock_and_read(
    conn: Conn, name: str, dead_letter_name: str, limit: int, only: Collection[str]
) -> Locked | None:
    """`lock` and the first `limit` events after the position in one statement (one round
    trip; it never creates the row nor checks the version), decoding only the events of the
    `only` names (upcasting.stored_names of what the projection handles): the others are
    only passed over. None when the projection has no tracking row yet."""
    rows = conn.execute(
        _LOCK_AND_READ, {"name": name, "dead": dead_letter_name, "limit": limit}
    ).fetchall()
    if not rows:
        return None
    position, version, dead_letters = int(rows[0][0]), int(rows[0][1]), int(rows[0][2])
    if rows[0][3] is None:
        return Locked(position, version, dead_letters, [], 0, position)
    events = decode_rows((row[3:] for row in rows), personal.ring().lookup(conn), only)
    return Locked(position, version, dead_letters, events, len(rows), int(rows[-1][3]))


def save(conn: Conn, name: str, position: int) -> None:
    """Records the new position (of a row locked already) and tells listeners on
    PROGRESS_CHANNEL, '<projection>:<position>' (delivered when the transaction commits)."""
    conn.execute(
        _SAVE,
        {
            "position": position,
            "name": name,
            "channel": PROGRESS_CHANNEL,
            "payload": f"{name}:{position}",
        },
    )


def start_rebuild(conn: Conn, name: str) -> None:
    """Marks the projection as rebuilding, from 0 towards the store's head."""
    conn.execute(
        "UPDATE projection_positions SET rebuild_started_at = now(), rebuild_position = 0, "
        "rebuild_target = (SELECT coalesce(max(notification_id), 0) FROM ledger_events) "
        "WHERE name = %s",
        (name,),
    )


def record_rebuild(conn: Conn, name: str, position: int, target: int) -> None:
    """The rebuild's progress: the position its shadow tables reached, and the head."""
    conn.execute(
        "UPDATE projection_positions SET rebuild_position = %s, rebuild_target = %s "
        "WHERE name = %s",
        (position, target, name),
    )


def clear_rebuild(conn: Conn, name: str) -> None:
    """The projection is no longer rebuilding (a rebuild that did not finish)."""
    conn.execute(
        f"UPDATE projection_positions SET {_NO_REBUILD} WHERE name = %s",  # noqa: S608 - constant  # nosec B608
        (name,),
    )


def finish_rebuild(conn: Conn, name: str, position: int, version: int) -> None:
    """The swap's record (of a row locked already): no longer rebuilding, the version of the
    code that built the tables (projectors of another version stop applying to them), a new
    generation, and the rebuilt tables' position, saved with its notification."""
    conn.execute(
        f"UPDATE projection_positions SET {_NO_REBUILD}, version = %s WHERE name = %s",  # noqa: S608 - constant  # nosec B608
        (version, name),
    )
    new_generation(conn, name)
    save(conn, name, position)


def new_generation(conn: Conn, name: str) -> None:
    """The projection's rows changed without its position moving (a rebuild's swap, a
    dead-letter retry): caches keyed by (position, generation) drop what they read before."""
    conn.execute(
        "UPDATE projection_positions SET generation = generation + 1 WHERE name = %s", (name,)
    )
