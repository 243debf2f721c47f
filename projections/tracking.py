"""One step of a projection: lock its position, read the next events, apply, record, commit."""

from __future__ import annotations

from dataclasses import dataclass

from projections import store
from projections.applier import Applier
from projections.store import Conn


@dataclass(frozen=True)
class Step:
    read: int
    applied: int
    parked: int
    position: int


def step(conn: Conn, applier: Applier, batch_size: int) -> Step:
    """Applies up to `batch_size` events after the projection's position, exactly once: the
    rows and the new position commit together, or neither does."""
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
