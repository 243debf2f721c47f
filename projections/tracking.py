"""The tracking protocol, in one place: lock the position, read the events after it, apply
them, save the position reached (with its notification), all in one transaction, so a
projection's rows and its position commit together or not at all.

`advance` runs one such step for a `Tracked`: the live projection (`step` below, the fast way
and the careful way), the retry of dead letters (projections.dead_letters) and a rebuild's
catch-up of its shadow tables (projections.rebuild) each say how they lock, read, apply and
save; none writes the sequence again.

The live path sends a step as two round trips (psycopg pipeline mode): BEGIN plus one
statement that locks the position row, reads the events after it and counts the projection's
dead letters; then the projection's writes, the position update with its notification, and
COMMIT. If any of those writes fails, the step is rolled back and done again the careful way
(one event at a time under savepoints, parking what cannot be applied)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import psycopg

from projections import positions, store
from projections.applier import Applied, Applier
from projections.events import Event
from projections.store import Conn


@dataclass(frozen=True)
class Step:
    read: int
    applied: int
    parked: int
    position: int


@dataclass(frozen=True)
class Batch:
    """The events a step read, the position the step reaches once they are applied, and how
    many stored events it read (more than `events` when it passed over some unread)."""

    events: list[Event[Any]]
    position: int
    read: int = -1  # len(events)

    @classmethod
    def after(cls, position: int, events: list[Event[Any]]) -> Batch:
        """Events read in order after `position`: the step reaches the last one's."""
        return cls(events, events[-1].position if events else position)

    @property
    def stored_events(self) -> int:
        return len(self.events) if self.read < 0 else self.read


class Tracked(Protocol):
    """What one step of a projection locks, reads, applies and saves."""

    def lock(self, conn: Conn) -> int:
        """Locks the position for the transaction (every writer takes it first); returns it."""
        ...

    def read(self, conn: Conn, position: int, limit: int) -> Batch: ...

    def apply(self, conn: Conn, events: list[Event[Any]]) -> Applied: ...

    def save(self, conn: Conn, position: int) -> None: ...


def advance(conn: Conn, tracked: Tracked, limit: int) -> Step:
    """One step, inside the caller's transaction: locks the position, reads up to `limit`
    events after it, applies them and saves the position reached (when it moved)."""
    position = tracked.lock(conn)
    batch = tracked.read(conn, position, limit)
    result = tracked.apply(conn, batch.events) if batch.events else Applied()
    if batch.position != position:
        tracked.save(conn, batch.position)
    return Step(batch.stored_events, result.applied, result.parked, batch.position)


class Live:
    """A projection's live tables and position, the careful way: the batch's writes under a
    savepoint, replayed one event at a time if they fail, parking what cannot be applied."""

    def __init__(self, applier: Applier) -> None:
        self.applier = applier
        self.name = applier.projection.name

    def lock(self, conn: Conn) -> int:
        return positions.lock(conn, self.name, self.applier.projection.version)

    def read(self, conn: Conn, position: int, limit: int) -> Batch:
        return Batch.after(position, store.read_events(conn, position, limit))

    def apply(self, conn: Conn, events: list[Event[Any]]) -> Applied:
        return self.applier.apply(conn, events)

    def save(self, conn: Conn, position: int) -> None:
        positions.save(conn, self.name, position)


class _NotFastError(Exception):
    """The fast path cannot do this step: no position row yet, or tables of another version
    (the careful path creates the row, records the version or refuses)."""


class _Pipelined(Live):
    """The fast way: the lock and the read in one statement, the writes without a savepoint
    (a failing one raises, and the caller rolls the step back)."""

    def __init__(self, applier: Applier, limit: int) -> None:
        super().__init__(applier)
        self.limit = limit
        self.batch = Batch([], 0)
        self.parked: set[str] | None = None

    def lock(self, conn: Conn) -> int:
        locked = positions.lock_and_read(
            conn, self.name, self.applier.dead_letter_name, self.limit, self.applier.stored_names
        )
        if locked is None or locked.version != self.applier.projection.version:
            raise _NotFastError
        self.batch = Batch(locked.events, locked.last, locked.read)
        # Without dead letters nothing is parked behind one: no need to ask which.
        self.parked = None if locked.dead_letters else set()
        return locked.position

    def read(self, conn: Conn, position: int, limit: int) -> Batch:
        return self.batch

    def apply(self, conn: Conn, events: list[Event[Any]]) -> Applied:
        return self.applier.apply(conn, events, parked=self.parked, savepoint=False)


def step(conn: Conn, applier: Applier, batch_size: int) -> Step:
    """Applies up to `batch_size` events after the projection's position, exactly once: the
    rows and the new position commit together, or neither does. Raises
    positions.VersionMismatchError when the tables are of another version than the code's."""
    try:
        with conn.pipeline(), conn.transaction():
            return advance(conn, _Pipelined(applier, batch_size), batch_size)
    except _NotFastError:
        pass
    except psycopg.DatabaseError as exc:
        if isinstance(exc, psycopg.OperationalError):
            raise  # the connection is gone: the worker reconnects
        # A write failed (a poison event): nothing of the step committed.
    with conn.transaction():
        return advance(conn, Live(applier), batch_size)
