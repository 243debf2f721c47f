"""Everything a worker holds for its lifetime, made in the app's lifespan and reached by routes
through `Annotated` dependencies."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from api.cache import ResponseCache
from api.positions import ProjectionPositions
from api.ratelimit import RateLimiter
from api.replica import Replica
from ledger.application import Ledger
from ledger.settings import Settings
from reads import ReadPool


@dataclass
class ApiState:
    settings: Settings
    # The primary's URL, for what runs beside the pools (a rebuild the back office starts).
    database_url: str
    ledger: Ledger
    # Commands run here, one thread per write-pool connection: load queues instead of failing.
    commands: ThreadPoolExecutor
    # argon2 is deliberately slow; its own threads keep sign-ins from starving commands.
    hashing: ThreadPoolExecutor
    # The primary's read pool; a GET that chose the replica gets the replica's connections.
    pool: ReadPool
    positions: ProjectionPositions
    replica: Replica | None
    redis: Redis[bytes] | None
    limiter: RateLimiter
    cache: ResponseCache

    @property
    def currency(self) -> str:
        return self.settings.ledger_currency


class Opened:
    """The worker's state once the app's lifespan opened it, for what runs outside FastAPI's
    dependencies (the read-cache middleware is handed `get`, not the app)."""

    def __init__(self) -> None:
        self.state: ApiState | None = None

    def get(self) -> ApiState | None:
        return self.state

    def replica(self) -> Replica | None:
        return self.state.replica if self.state is not None else None


async def get_state(request: Request) -> ApiState:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hand-off per request.
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(get_state)]
