"""The read side: projections that turn the event store into plain, typed tables.

`catch_up(url)` applies every pending event in-process (tests, tools); `ledger projector run`
runs the long-lived workers (projections.worker); `ledger projections rebuild` rebuilds a
projection into shadow tables and swaps them in (projections.rebuild)."""

from __future__ import annotations

import psycopg

from projections.applier import Applier
from projections.registry import PROJECTIONS, resolve
from projections.tracking import step

CATCH_UP_BATCH = 5_000

__all__ = ["PROJECTIONS", "catch_up"]


def catch_up(database_url: str, names: list[str] | None = None) -> dict[str, int]:
    """Applies every pending event to the named projections (all by default); returns each
    projection's position afterwards."""
    positions: dict[str, int] = {}
    with psycopg.connect(database_url) as conn:
        for projection in resolve(names):
            applier = Applier(projection)
            while True:
                done = step(conn, applier, CATCH_UP_BATCH)
                positions[projection.name] = done.position
                if done.read < CATCH_UP_BATCH:
                    break
    return positions
