"""Where each projection stands: position, head of the store, lag, state and dead letters.

The CLI (`ledger projections status`), the API (`GET /projections`, `/health/ready`) and the
workers' Prometheus gauges all read these same figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import tuple_row

from projections.positions import STATUS
from projections.registry import PROJECTIONS
from projections.store import ADVISORY_CLASS

STALLED_AFTER_SECONDS = 30.0


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    # The projection version that built the tables (this code's is PROJECTIONS[name].version).
    version: int
    head: int
    lag_events: int
    lag_seconds: float
    state: str
    dead_letters: int
    updated_at: datetime | None
    rebuild_position: int | None
    rebuild_target: int | None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["updated_at"] = self.updated_at.isoformat() if self.updated_at else None
        return data


def _event_age(state: bytes | memoryview | None, now: datetime) -> float:
    if state is None:
        return 0.0
    stamp = orjson.loads(bytes(state))["timestamp"]
    at = datetime.fromisoformat(stamp["_data_"] if isinstance(stamp, dict) else stamp)
    return max(0.0, (now - at).total_seconds())


def _from_row(row: tuple[Any, ...], now: datetime) -> ProjectionStatus:
    (name, position, version, updated_at, rebuild_started_at, rebuild_position, rebuild_target,
     dead_letters, active, lag_events, oldest_state, head) = row  # fmt: skip
    lag_seconds = _event_age(oldest_state, now)
    built = int(version or 1)
    if rebuild_started_at is not None:
        state = "rebuilding"
    elif position and built != PROJECTIONS[name].version:
        # Built by another release's code: its projector applies events, this one's waits.
        state = "needs rebuild" if built < PROJECTIONS[name].version else "newer release"
    elif lag_events and lag_seconds > STALLED_AFTER_SECONDS:
        state = "stalled"
    elif active:
        state = "running"
    else:
        state = "stopped" if lag_events else "idle"
    return ProjectionStatus(
        name=name,
        position=int(position),
        version=built,
        head=int(head),
        lag_events=int(lag_events),
        lag_seconds=round(lag_seconds, 3),
        state=state,
        dead_letters=int(dead_letters),
        updated_at=updated_at,
        rebuild_position=rebuild_position,
        rebuild_target=rebuild_target,
    )


def _params(names: list[str] | None = None) -> dict[str, Any]:
    return {"cls": ADVISORY_CLASS, "names": names or list(PROJECTIONS)}


def read_status(
    conn: psycopg.Connection[Any], names: list[str] | None = None
) -> list[ProjectionStatus]:
    """The named projections' status, every one's by default (synchronous: the CLI and the
    workers)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(STATUS, _params(names)).fetchall()
    now = datetime.now(UTC)
    return [_from_row(row, now) for row in rows]


async def read_status_async(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
    """Every projection's status as JSON-ready dicts (the API)."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        rows = await (await cur.execute(STATUS, _params())).fetchall()
    now = datetime.now(UTC)
    return [_from_row(row, now).as_dict() for row in rows]
