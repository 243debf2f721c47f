"""Dead letters: events a projection could not apply, parked with their error, and a retry
that applies them in their original order once the cause is fixed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from projections import positions, store
from projections.applier import Applier
from projections.base import Projection
from projections.store import Conn
from projections.tracking import Batch, Live, advance


@dataclass(frozen=True)
class DeadLetter:
    position: int
    originator_id: str
    originator_version: int
    event: str
    error: str
    parked_at: datetime


@dataclass(frozen=True)
class RetryResult:
    applied: int
    still_parked: int


def list_dead_letters(conn: psycopg.Connection[Any], projection: str) -> list[DeadLetter]:
    rows = conn.execute(
        "SELECT position, originator_id, originator_version, topic, error, parked_at "
        "FROM projection_dead_letters WHERE projection = %s ORDER BY position",
        (projection,),
    ).fetchall()
    return [DeadLetter(*row) for row in rows]


class _Retry(Live):
    """The projection's live position, locked (the live worker pauses meanwhile) but not
    moved: the events read are its dead letters, taken off the table and applied again the
    careful way (those that fail again are parked again)."""

    def read(self, conn: Conn, position: int, limit: int) -> Batch:
        return Batch(store.take_dead_letters(conn, self.name), position)


def retry(database_url: str, projection: Projection) -> RetryResult:
    """Re-applies every parked event in store order; those that fail again (and later events
    of their aggregates) stay parked."""
    with psycopg.connect(database_url) as conn, conn.transaction():
        done = advance(conn, _Retry(Applier(projection)), limit=0)  # every one: no limit
        if done.applied:
            positions.new_generation(conn, projection.name)
    return RetryResult(applied=done.applied, still_parked=done.parked)
