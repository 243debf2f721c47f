"""Loading a rebuild's shadow tables: each batch folded into one Changes and written with COPY.

The shadow tables start empty, and the projections' upserts create rows (an order, its lines,
its history), so the batch's new rows can go in with COPY. Anything unusual goes the live
projector's way instead, through the Applier, so live and rebuilt tables agree: a handler that
raises, a write that fails (the Applier replays the batch one event at a time and parks the
culprit), and every batch after a dead letter (later events of its aggregate park behind it).
COPY that meets a key already written (or fails otherwise) is rolled back and the batch
flushed with the upserts; COPY is then off for the rest of the rebuild."""

from __future__ import annotations

from typing import Any

import psycopg

from projections.applier import Applied, Applier
from projections.base import Projection
from projections.changes import Changes, Table
from projections.events import Event
from projections.shadow import SHADOW
from projections.store import Conn


class ShadowLoader:
    """Applies batches of a projection's events to its shadow tables; `parked` counts the
    events parked as the shadow's dead letters so far."""

    def __init__(self, projection: Projection, copy: dict[Table, dict[str, int]]) -> None:
        self.projection = projection
        self.applier = Applier(projection, suffix=SHADOW)
        # The shadow tables' column types, for COPY (empty: COPY is off).
        self.copy = copy
        self.parked = 0

    def apply(self, conn: Conn, events: list[Event[Any]]) -> Applied:
        """Applies `events` (all handled by the projection) inside the caller's transaction."""
        parked = self._apply(conn, events)
        self.parked += parked
        return Applied(applied=len(events) - parked, parked=parked)

    def _apply(self, conn: Conn, events: list[Event[Any]]) -> int:
        if self.parked:
            return self.applier.apply(conn, events).parked
        changes = Changes()
        handler_for = self.projection.handler_for
        try:
            for event in events:
                handler = handler_for(event.name)
                if handler is not None:
                    handler(event, changes)
        except Exception:  # the Applier parks the event that raised, and applies the rest
            return self.applier.apply(conn, events).parked
        if self.copy and self._copy(conn, changes):
            return 0
        try:
            with conn.transaction():
                changes.flush(conn, SHADOW)
        except psycopg.DatabaseError as exc:
            if isinstance(exc, psycopg.OperationalError):
                raise
            return self.applier.apply(conn, events).parked
        return 0

    def _copy(self, conn: Conn, changes: Changes) -> bool:
        try:
            with conn.transaction():
                changes.flush(conn, SHADOW, self.copy)
        except psycopg.OperationalError:
            raise
        except Exception:  # any COPY failure: the plain flush decides
            self.copy = {}
            return False
        return True
