"""Where a GET reads: the replica when it has caught up with what the request must see, the
primary otherwise.

The read-routing middleware (api.read_routing) gives each GET a `ReadSource`, reachable as
`current()` for the rest of the request. What reads projections for the request (the
consistency dependency, the read cache) asks it to `choose` for the projections it reads and
the position they must show; from then on the worker's read pool (`RoutingPool`, the
`state.pool` every route uses) hands the request replica connections. Everything else (commands,
idempotency records, housekeeping, a GET that never chose) reads and writes the primary."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from api.replica import Replica
from reads import Conn

# A request on the replica answers within this, or is asked again of the primary: a replica
# that hangs (a network partition, a paused host) must not hang the request with it.
REPLICA_DEADLINE_SECONDS = 2.0
# How long a request waits for a free replica connection before reading the primary.
REPLICA_POOL_TIMEOUT_SECONDS = 0.5
PRIMARY, REPLICA = "primary", "replica"
_current: ContextVar[ReadSource | None] = ContextVar("read_source", default=None)


@dataclass
class ReadSource:
    """One GET's choice of server."""

    # The position of the client's own last write (the cookie command responses set), 0 if none.
    client_position: int
    replica: Replica | None
    on_replica: bool = False
    # The replica failed this request: it is asked again of the primary.
    failed: bool = False
    deadline: asyncio.Timeout | None = None

    @property
    def name(self) -> str:
        return REPLICA if self.on_replica else PRIMARY

    def choose(self, projections: Iterable[str], position: int) -> bool:
        """Reads go to the replica (True) when it is usable and its copies of `projections`
        have reached `position`; to the primary otherwise."""
        self.on_replica = (
            self.replica is not None
            and not self.failed
            and self.replica.caught_up(projections, position)
        )
        return self.on_replica

    def replica_failed(self, error: BaseException) -> None:
        self.failed = True
        if self.replica is not None and not isinstance(error, PoolTimeout):
            self.replica.failed(error)  # a busy pool is no sign of a dead replica

    def arm_deadline(self) -> None:
        if self.deadline is not None and self.deadline.when() is None:
            self.deadline.reschedule(asyncio.get_running_loop().time() + REPLICA_DEADLINE_SECONDS)


def current() -> ReadSource | None:
    """The running GET's read source (None outside a GET)."""
    return _current.get()


def use(source: ReadSource | None) -> object:
    """Makes `source` the running request's; returns the token `reset` takes."""
    return _current.set(source)


def reset(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]  # the token `use` returned


class RoutingPool(AsyncConnectionPool[Conn]):
    """The primary's read pool, handing a GET that chose the replica a replica connection
    instead (`replica` is set once the replica's pool exists)."""

    replica: Replica | None = None

    @asynccontextmanager
    async def connection(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - the signature of the method overridden
    ) -> AsyncIterator[Conn]:
        source = current()
        if source is None or not source.on_replica or self.replica is None:
            async with super().connection(timeout) as conn:
                yield conn
            return
        wait = min(timeout or REPLICA_POOL_TIMEOUT_SECONDS, REPLICA_POOL_TIMEOUT_SECONDS)
        try:
            source.arm_deadline()
            async with self.replica.pool.connection(wait) as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            # The middleware asks the primary again; the error answers nothing to the client.
            source.replica_failed(exc)
            raise
