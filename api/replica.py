"""The streaming replica (DATABASE_REPLICA_URL) as this API process sees it: its connection
pool, how far its copy of each projection has got, and whether reads may go there now.

LISTEN does not work on a hot standby, so one loop per process polls the replica's copy of
`projection_positions` (replicated with the tables, in the same transactions) every
POLL_SECONDS on a connection of its own. The replica is usable while that poll answers within
POLL_TIMEOUT_SECONDS and its positions are no further behind than what the primary's
projections had reached MAX_LAG_SECONDS ago (as this process's listener on the primary,
api.positions, saw them): a replica that dies, hangs or falls behind is routed around within
about a second (two when it lags), and used again as soon as it answers and catches up."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

import psycopg

from api.positions import ProjectionPositions
from ledger.logs import get_logger
from reads import ReadPool

POLL_SECONDS = 0.1
POLL_TIMEOUT_SECONDS = 0.5
# A poll older than this (the loop itself stuck) makes the replica unusable.
STALE_AFTER_SECONDS = 1.0
MAX_LAG_SECONDS = 2.0
RECONNECT_SECONDS = 0.5
_POSITIONS = "SELECT name, position FROM projection_positions"
log = get_logger("ledger.api.replica")


class Replica:
    """The replica's pool and progress; `caught_up` says whether a read may go there."""

    def __init__(self, url: str, pool: ReadPool, primary: ProjectionPositions) -> None:
        self._url = url
        self.pool = pool
        self._primary = primary
        self._positions: dict[str, int] = {}
        self._seen_at = float("-inf")  # monotonic time of the last answered poll
        self._lagging = False
        # (monotonic time, the primary's positions then): the reference the lag is judged by.
        self._primary_history: deque[tuple[float, dict[str, int]]] = deque()
        self._usable_before = False  # for logging the changes only
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pool.open(wait=False)
        self._task = asyncio.create_task(self._run(), name="replica-progress")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.pool.close()

    @property
    def usable(self) -> bool:
        fresh = time.monotonic() - self._seen_at < STALE_AFTER_SECONDS
        return fresh and not self._lagging

    def caught_up(self, names: Iterable[str], position: int) -> bool:
        """Whether the replica is usable and its copies of `names` have reached `position`."""
        return self.usable and all(self._positions.get(name, 0) >= position for name in names)

    def failed(self, error: BaseException) -> None:
        """A request lost its replica connection: no read goes there until a poll answers."""
        self._seen_at = float("-inf")
        self._log_change(error)

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._seen_at = float("-inf")
                self._log_change(exc)
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _follow(self) -> None:
        connect = psycopg.AsyncConnection.connect(self._url, autocommit=True, connect_timeout=2)
        conn = await asyncio.wait_for(connect, POLL_TIMEOUT_SECONDS * 2)
        try:
            while True:
                cursor = await asyncio.wait_for(conn.execute(_POSITIONS), POLL_TIMEOUT_SECONDS)
                self._record(await cursor.fetchall())
                await asyncio.sleep(POLL_SECONDS)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), POLL_TIMEOUT_SECONDS)

    def _record(self, rows: list[tuple[Any, ...]]) -> None:
        now = time.monotonic()
        self._positions = {str(name): int(position) for name, position in rows}
        history = self._primary_history
        history.append((now, self._primary.snapshot()))
        # Keep the newest snapshot at least MAX_LAG_SECONDS old, and every newer one.
        while len(history) > 1 and history[1][0] <= now - MAX_LAG_SECONDS:
            history.popleft()
        at, reference = history[0]
        self._lagging = at <= now - MAX_LAG_SECONDS and any(
            self._positions.get(name, 0) < position for name, position in reference.items()
        )
        self._seen_at = now
        self._log_change(None)

    def _log_change(self, error: BaseException | None) -> None:
        usable = self.usable
        if usable == self._usable_before:
            return
        self._usable_before = usable
        if usable:
            log.info("replica usable: reads go there again")
        elif self._lagging:
            log.warning("replica lagging: reads go to the primary", max_lag=MAX_LAG_SECONDS)
        else:
            log.warning("replica unreachable: reads go to the primary", error=str(error)[:200])
