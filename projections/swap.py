"""A rebuild's swap: one transaction locks the projection's position (so the live worker
pauses between batches), applies the last few events to the shadow, renames the shadow tables
over the live ones, moves the position and bumps the generation. Readers wait a few
milliseconds on the rename and never see an empty or half-built table.

The swap waits for ACCESS EXCLUSIVE on the live tables at most SWAP_LOCK_TIMEOUT per attempt
(readers queue behind that request meanwhile): behind a long reader (a pg_dump, a session idle
in transaction) it rolls back, lets the readers through, and tries again with a short backoff,
until its `swap_timeout` has passed; then it fails (SwapTimeoutError) with the live tables
intact."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Protocol

import psycopg
from psycopg import sql

from ledger.logs import get_logger
from projections import positions, store
from projections.base import Projection
from projections.rebuild_lock import RebuildError, RebuildLock
from projections.shadow import SHADOW, dead_letters
from projections.store import Conn

# The longest a swap attempt waits for the live tables (readers queue behind it meanwhile).
SWAP_LOCK_TIMEOUT = 0.15
# How long a rebuild keeps trying to swap behind long readers before it gives up.
SWAP_TIMEOUT = 600.0
# The pause after a failed attempt: doubled after each one, up to the maximum.
SWAP_BACKOFF = 0.1
SWAP_BACKOFF_MAX = 1.0
_INDEX_NAME = re.compile(r"INDEX (\S+) ON (\S+)")
log = get_logger("ledger.rebuild")


class SwapTimeoutError(RebuildError):
    """Long readers kept the live tables locked for longer than the swap may wait."""


class CatchUp(Protocol):
    """The rebuild's filling of the shadow tables, up to the store's head."""

    @property
    def position(self) -> int: ...

    def catch_up(self, *, in_transaction: bool = False) -> None: ...

    def checkpoint(self) -> Callable[[], None]:
        """Returns what puts the filling back where it is now (its last commit)."""
        ...


def swap_in(
    conn: Conn,
    projection: Projection,
    fill: CatchUp,
    lock: RebuildLock,
    lock_timeout: float = SWAP_LOCK_TIMEOUT,
    swap_timeout: float = SWAP_TIMEOUT,
) -> int:
    """Swaps the caught-up shadow tables in, retrying behind long readers until
    `swap_timeout`; returns how many attempts it took (1: at once)."""
    deadline = time.monotonic() + swap_timeout
    backoff, attempts = SWAP_BACKOFF, 0
    while True:
        attempts += 1
        fill.catch_up()  # most of what came in meanwhile, outside the swap's transaction
        restore = fill.checkpoint()
        try:
            with conn.transaction():
                conn.execute("SET LOCAL synchronous_commit TO on")
                positions.lock(conn, projection.name)  # the live worker pauses here
                fill.catch_up(in_transaction=True)
                _lock_live_tables(conn, projection, lock_timeout)
                _swap(conn, projection, fill.position)
                lock.check(conn, projection.name)
            return attempts
        except psycopg.errors.LockNotAvailable:
            restore()  # rolled back: the shadow is where the last committed batch left it
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


def _lock_live_tables(conn: Conn, projection: Projection, timeout: float) -> None:
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


def _blockers(conn: Conn, projection: Projection) -> str:
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


def _swap(conn: Conn, projection: Projection, position: int) -> None:
    """Renames each shadow table over its live one (locked already), keeping the live index
    names; moves the shadow's dead letters, the position and the generation."""
    for table in projection.tables:
        live = table.name
        old, shadow = live + "__old", live + SHADOW
        index_names = _index_names(conn, live)
        _rename(conn, "TABLE", live, old)
        _rename(conn, "TABLE", shadow, live)
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(old)))
        for shape, name in _index_names(conn, live).items():
            wanted = index_names.get(shape)
            if wanted and wanted != name:
                _rename(conn, "INDEX", name, wanted)
    store.move_dead_letters(conn, dead_letters(projection), projection.name)
    positions.finish_rebuild(conn, projection.name, position, projection.version)


def _rename(conn: Conn, kind: str, name: str, new_name: str) -> None:
    statement = sql.SQL("ALTER {} {} RENAME TO {}").format(
        sql.SQL(kind), sql.Identifier(name), sql.Identifier(new_name)
    )
    conn.execute(statement)


def _index_names(conn: Conn, table: str) -> dict[str, str]:
    """The table's indexes by shape (their definition without names) -> name."""
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = %s",
        (table,),
    ).fetchall()
    return {_INDEX_NAME.sub("INDEX ON", definition): name for name, definition in rows}
