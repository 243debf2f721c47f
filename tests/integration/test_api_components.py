"""The API's moving parts against real PostgreSQL and Redis: the projection listener and the
rate limiter (Redis, process memory, and the fallback when Redis fails)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from api.errors import ApiError
from api.positions import CHANNEL, ProjectionPositions
from api.ratelimit import RateLimiter


async def _with_positions(
    database_url: str, body: Callable[[ProjectionPositions], Awaitable[None]]
) -> None:
    pool: AsyncConnectionPool = AsyncConnectionPool(
        database_url, min_size=1, max_size=2, kwargs={"autocommit": True, "row_factory": dict_row},
        open=False,
    )  # fmt: skip
    await pool.open()
    positions = ProjectionPositions(database_url, pool)
    await positions.start()
    try:
        for _ in range(100):
            if positions.connected:
                break
            await asyncio.sleep(0.05)
        await body(positions)
    finally:
        await positions.stop()
        await pool.close()


def test_a_projector_notification_wakes_the_waiter(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO projection_positions (name, position) VALUES ('orders', 3)")

    async def body(positions: ProjectionPositions) -> None:
        assert positions.reached(["orders"], 3)
        assert not positions.reached(["orders"], 4)
        assert await positions.wait(["orders"], 3, 0)  # already there: no wait at all
        assert not await positions.wait(["orders"], 9, 0.05)
        waiting = asyncio.create_task(positions.wait(["orders"], 7, 10))
        await asyncio.sleep(0.05)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await conn.execute("SELECT pg_notify(%s, 'orders:7')", (CHANNEL,))
        assert await asyncio.wait_for(waiting, 5)
        assert positions.reached(["orders"], 7)

    asyncio.run(_with_positions(database_url, body))


def test_rate_limit_in_redis_is_shared(redis_url: str) -> None:
    async def body() -> None:
        first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
        try:
            one, two = RateLimiter(first, "test"), RateLimiter(second, "test")
            await one.hit("login", "1.2.3.4", (2, 60))
            await two.hit("login", "1.2.3.4", (2, 60))
            with pytest.raises(ApiError) as refused:
                await one.hit("login", "1.2.3.4", (2, 60))
            assert refused.value.status == 429
            assert 0 < int(refused.value.headers["Retry-After"]) <= 60
            await two.hit("login", "5.6.7.8", (2, 60))  # another address has its own allowance
        finally:
            await first.aclose()
            await second.aclose()

    asyncio.run(body())


def test_failed_logins_are_counted_and_off_disables(redis_url: str) -> None:
    async def body() -> None:
        limiter = RateLimiter(None, "test")
        # A released slot (a login that is not to count) is given back; kept ones count.
        await limiter.release(await limiter.reserve("login-email", "a@example.com", (2, 60)))
        await limiter.reserve("login-email", "a@example.com", (2, 60))
        await limiter.reserve("login-email", "a@example.com", (2, 60))
        with pytest.raises(ApiError):
            await limiter.reserve("login-email", "a@example.com", (2, 60))
        assert await limiter.reserve("login-email", "a@example.com", None) is None
        for _ in range(100):
            await limiter.hit("auth-address", "1.2.3.4", None)

    asyncio.run(body())


def test_redis_failure_falls_back_to_process_memory() -> None:
    async def body() -> None:
        dead = Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.2)
        try:
            limiter = RateLimiter(dead, "test")
            await limiter.hit("login", "1.2.3.4", (1, 60))
            with pytest.raises(ApiError):
                await limiter.hit("login", "1.2.3.4", (1, 60))
        finally:
            await dead.aclose()

    asyncio.run(body())
