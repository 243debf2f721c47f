"""Dead letters: events a projection could not apply, parked with their error, and a retry
that applies them in their original order once the cause is fixed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from projections import store
from projections.applier import Applier
from projections.base import Projection
from projections.events import EVENT_COLUMNS, decode


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


def retry(database_url: str, projection: Projection) -> RetryResult:
    """Re-applies every parked event in store order; those that fail again (and later events
    of their aggregates) stay parked."""
    with psycopg.connect(database_url) as conn, conn.transaction():
        store.lock_position(conn, projection.name)  # the live worker pauses meanwhile
        positions = [
            row[0]
            for row in conn.execute(
                "DELETE FROM projection_dead_letters WHERE projection = %s RETURNING position",
                (projection.name,),
            ).fetchall()
        ]
        rows = conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM ledger_events "  # noqa: S608 - constant columns  # nosec B608
            "WHERE notification_id = ANY(%s) ORDER BY notification_id",
            (positions,),
        ).fetchall()
        result = Applier(projection).apply(conn, [decode(row) for row in rows])
    return RetryResult(applied=result.applied, still_parked=result.parked)
