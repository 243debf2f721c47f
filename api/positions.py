"""How far each projection has got, pushed by the projectors.

One dedicated LISTEN connection per worker on `ledger_projections` (payload
`'<projection>:<position>'`, sent by each projector inside its batch transaction) keeps an
in-memory map and wakes the requests waiting for a position. The map is seeded from
`projection_positions`; when the connection drops it reconnects and re-seeds, re-reading the
table slowly meanwhile so waiters are not stranded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from ledger.contract import PROGRESS_CHANNEL
from ledger.logs import get_logger
from reads import ReadPool

CHANNEL = PROGRESS_CHANNEL
# Re-read the table this often even while connected: a safety net, not the wake-up path.
HEARTBEAT_SECONDS = 5.0
RECONNECT_SECONDS = 0.5
log = get_logger("ledger.api.positions")


@dataclass
class _Waiter:
    names: tuple[str, ...]
    position: int
    future: asyncio.Future[None] = field(repr=False)


class ProjectionPositions:
    """The projections' positions as this worker knows them, and waits on them."""

    def __init__(self, database_url: str, pool: ReadPool) -> None:
        self._url = database_url
        self._pool = pool
        self._positions: dict[str, int] = {}
        self._waiters: list[_Waiter] = []
        self._task: asyncio.Task[None] | None = None
        self.connected = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="projection-positions")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.cancel()

    def snapshot(self) -> dict[str, int]:
        """Every projection's position as this worker knows it now."""
        return dict(self._positions)

    def reached(self, names: Iterable[str], position: int) -> bool:
        return all(self._positions.get(name, 0) >= position for name in names)

    async def wait(self, names: Iterable[str], position: int, seconds: float) -> bool:
        """True once every projection in `names` has reached `position`; False on timeout."""
        wanted = tuple(names)
        if self.reached(wanted, position):
            return True
        if seconds <= 0:
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(wanted, position, future)
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(future, seconds)
            return True
        except TimeoutError:
            return self.reached(wanted, position)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def update(self, name: str, position: int) -> None:
        """Records a projection's new position and wakes every waiter it satisfies."""
        self._positions[name] = position
        for waiter in self._waiters:
            if not waiter.future.done() and self.reached(waiter.names, waiter.position):
                waiter.future.set_result(None)

    def _apply_payload(self, payload: str) -> None:
        name, _, text = payload.rpartition(":")
        try:
            position = int(text)
        except ValueError:
            log.warning("malformed projection notification", payload=payload[:100])
            return
        if name:
            self.update(name, max(position, self._positions.get(name, 0)))

    async def _seed(self, conn: psycopg.AsyncConnection[Any]) -> None:
        cursor = await conn.execute("SELECT name, position FROM projection_positions")
        for row in await cursor.fetchall():
            # The listen connection yields tuples, the pool's connections dicts.
            name, position = (row["name"], row["position"]) if isinstance(row, dict) else row
            self.update(str(name), int(position))

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected:
                    log.warning("projection listener disconnected", error=str(exc))
            self.connected = False
            with contextlib.suppress(Exception):
                async with self._pool.connection(timeout=RECONNECT_SECONDS) as conn:
                    await self._seed(conn)
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, connect_timeout=5
        ) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            # Seeded after LISTEN, so no notification falls between the two.
            await self._seed(conn)
            self.connected = True
            while True:
                async for notify in conn.notifies(timeout=HEARTBEAT_SECONDS):
                    self._apply_payload(notify.payload)
                await self._seed(conn)
