"""Applies a batch of events to one projection inside the caller's transaction.

The fast path folds the whole batch and writes it with a few set-based statements. If that
write fails, the batch is replayed one event at a time under savepoints, so the one event that
cannot be applied is parked as a dead letter and the rest go through. Later events of a parked
aggregate are parked behind it: their order matters, other aggregates carry on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from ledger import upcasting
from projections import store
from projections.base import Projection
from projections.changes import Changes
from projections.events import Event
from projections.store import Conn

PARKED_BEHIND = "parked behind an earlier dead letter of the same aggregate"


@dataclass
class Applied:
    applied: int = 0
    parked: int = 0


class Applier:
    """Applies events to `projection`, writing to its tables (or their shadows, via `suffix`)."""

    def __init__(self, projection: Projection, suffix: str = "") -> None:
        self.projection = projection
        self.suffix = suffix
        self.dead_letter_name = projection.name + suffix
        # The stored names of the events it handles, older names upcast to them included.
        self.stored_names = frozenset(upcasting.stored_names(projection.event_names))

    def apply(
        self,
        conn: Conn,
        events: Sequence[Event[Any]],
        *,
        parked: set[str] | None = None,
        savepoint: bool = True,
    ) -> Applied:
        """Applies `events`. `parked`: the aggregates with dead letters, when the caller knows
        them. Without `savepoint` the batch's writes are not wrapped in a savepoint and a
        failing write raises (the caller rolls back and tries again with one)."""
        if parked is None:
            parked = store.parked_aggregates(conn, self.dead_letter_name)
        result = Applied()
        batch = Changes()
        relevant: list[Event[Any]] = []
        for event in events:
            handler = self.projection.handler_for(event.name)
            if handler is None:
                continue
            if event.originator_id in parked:
                store.park(conn, self.dead_letter_name, event, PARKED_BEHIND)
                result.parked += 1
                continue
            one = Changes()
            try:
                handler(event, one)
            except Exception as exc:
                store.park(conn, self.dead_letter_name, event, _describe(exc))
                parked.add(event.originator_id)
                result.parked += 1
                continue
            batch.merge(one)
            relevant.append(event)
        if not savepoint:
            batch.flush(conn, self.suffix)
            result.applied += len(relevant)
            return result
        try:
            with conn.transaction():
                batch.flush(conn, self.suffix)
            result.applied += len(relevant)
        except psycopg.DatabaseError as exc:
            if isinstance(exc, psycopg.OperationalError):
                raise  # the connection is gone: the whole batch is retried later
            one_by_one = self._one_by_one(conn, relevant, parked)
            result.applied += one_by_one.applied
            result.parked += one_by_one.parked
        return result

    def _one_by_one(self, conn: Conn, events: Sequence[Event[Any]], parked: set[str]) -> Applied:
        result = Applied()
        for event in events:
            if event.originator_id in parked:
                store.park(conn, self.dead_letter_name, event, PARKED_BEHIND)
                result.parked += 1
                continue
            handler = self.projection.handler_for(event.name)
            if handler is None:  # pragma: no cover - only handled events reach here
                continue
            one = Changes()
            handler(event, one)
            try:
                with conn.transaction():
                    one.flush(conn, self.suffix)
                result.applied += 1
            except psycopg.DatabaseError as exc:
                if isinstance(exc, psycopg.OperationalError):
                    raise
                store.park(conn, self.dead_letter_name, event, _describe(exc))
                parked.add(event.originator_id)
                result.parked += 1
        return result


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
