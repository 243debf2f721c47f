"""Where each projection stands: position, head of the store, lag, state, dead letters and
who holds its lease (the worker, by host and process id, whose session holds the projection's
advisory lock; each worker names itself in its connections' application_name).

The CLI (`ledger projections status`), the API (`GET /projections`, `/health/ready`) and the
workers' Prometheus gauges all read these same figures."""

from __future__ import annotations

import os
import socket
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
LEASE_HOLDER_PREFIX = "ledger projector "
MAX_NAME_BYTES = 63
# The session holding each projection's advisory lock, and the name it gave itself.
_LEASES = """
SELECT n.name, a.application_name, a.pid, host(a.client_addr)
FROM unnest(%(names)s::text[]) AS n(name)
JOIN pg_locks l
  ON l.locktype = 'advisory' AND l.granted AND l.classid = %(cls)s::bigint::oid
 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
 AND l.objid = (hashtext(n.name)::bigint & 4294967295)::oid AND l.objsubid = 2
JOIN pg_stat_activity a ON a.pid = l.pid
"""


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
    # Who applies it: "host:pid" of the worker holding its lease, None when no one does.
    lease: str | None = None

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


def lease_holder_name() -> str:
    """The application_name a worker's sessions carry: this host and process, within the 63
    bytes PostgreSQL keeps."""
    name = f"{LEASE_HOLDER_PREFIX}{socket.gethostname()}:{os.getpid()}"
    return name if len(name.encode()) <= MAX_NAME_BYTES else name[-MAX_NAME_BYTES:]


def _holder(application_name: str, backend_pid: int, client: str | None) -> str:
    """The worker a lease's session belongs to: the host and pid it named itself by, or (a
    session that did not, such as an older release's) its backend and address."""
    if application_name.startswith(LEASE_HOLDER_PREFIX):
        return application_name.removeprefix(LEASE_HOLDER_PREFIX)
    return f"backend {backend_pid} from {client or 'local socket'}"


def _from_row(row: tuple[Any, ...], now: datetime, leases: dict[str, str]) -> ProjectionStatus:
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
        lease=leases.get(name),
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
        leases = {name: _holder(*holder) for name, *holder in cur.execute(_LEASES, _params(names))}
    now = datetime.now(UTC)
    return [_from_row(row, now, leases) for row in rows]


async def read_status_async(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
    """Every projection's status as JSON-ready dicts (the API)."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        rows = await (await cur.execute(STATUS, _params())).fetchall()
        held = await (await cur.execute(_LEASES, _params())).fetchall()
    leases = {name: _holder(*holder) for name, *holder in held}
    now = datetime.now(UTC)
    return [_from_row(row, now, leases).as_dict() for row in rows]
