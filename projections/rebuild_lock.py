"""One rebuild per projection at a time, across processes and hosts: a session advisory lock,
keyed by the projection's name, held on a connection of its own from start to end. A second
rebuild is refused (RebuildRunningError, one line naming who holds it) before it touches
anything; a rebuild whose lock connection died finds out before it commits (`check`)."""

from __future__ import annotations

import os
import socket
from collections.abc import Collection, Iterator
from contextlib import contextmanager

import psycopg

from projections.store import Conn

# The advisory-lock key of a rebuild of projection NAME is hashtext(LOCK_PREFIX || NAME).
LOCK_PREFIX = "ledger.rebuild:"
_LOCK_HOLDERS = (
    "SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start "
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext(%s)::bigint"
)


class RebuildError(Exception):
    """A rebuild that could not run or finish; the message is one line for the operator."""


class RebuildRunningError(RebuildError):
    """Another rebuild of the projection holds its lock."""


class RebuildLockLostError(RebuildError):
    """The rebuild's lock connection is gone: another rebuild may have started."""


class RebuildLock:
    """The session advisory locks of a few projections' rebuilds, held on a connection of
    their own (closing it releases them, as a crash of the process does)."""

    def __init__(self, conn: Conn, names: Collection[str]) -> None:
        self.conn = conn
        self.names = frozenset(names)
        self.pid = conn.info.backend_pid

    def check(self, conn: Conn, name: str) -> None:
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


def _holder(conn: Conn, name: str) -> str:
    row = conn.execute(_LOCK_HOLDERS, (LOCK_PREFIX + name,)).fetchone()
    if row is None:
        return "it has just finished: try again"
    pid, application, address, since = row
    who = application or "an unnamed session"
    where = f" from {address}" if address else ""
    when = f", since {since:%Y-%m-%d %H:%M:%S %Z}" if since else ""
    return f"{who}, database pid {pid}{where}{when}"
