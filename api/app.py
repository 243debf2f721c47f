"""The app factory: routes, error envelopes, middleware, and the lifespan that opens (and
closes) the write side, the read pool, the projection listener and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from psycopg import Error as DatabaseError
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from api import admin
from api.cache import ResponseCache
from api.cached_reads import CachedReads
from api.errors import install_error_handlers
from api.housekeeping import keep_house
from api.middleware import RequestMiddleware
from api.positions import ProjectionPositions
from api.ratelimit import RateLimiter
from api.read_routing import ReadRouting
from api.read_source import REPLICA_POOL_TIMEOUT_SECONDS, RoutingPool
from api.replica import Replica
from api.routes import auth, ops, orders, products, reports, users
from api.state import ApiState, Opened
from api.tracing import instrument_app
from ledger import database, slow_queries
from ledger.application import Ledger
from ledger.eventstore import RECONNECT_TIMEOUT_SECONDS, session_options
from ledger.logs import get_logger
from ledger.metrics import DB_POOL
from ledger.settings import Settings
from reads import Conn, ReadPool

POOL_GAUGE_SECONDS = 5.0
Pool = TypeVar("Pool", bound=ReadPool)
log = get_logger("ledger.api")


def create_app(settings: Settings) -> FastAPI:
    """The HTTP API for `settings`; its resources open when the app starts."""
    slow_queries.set_threshold(settings.ledger_slow_query_ms)
    opened = Opened()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await _open(settings)
        app.state.api = opened.state = state
        gauges = asyncio.create_task(_pool_gauges(state), name="pool-gauges")
        housekeeping = asyncio.create_task(
            keep_house(state.pool, settings.ledger_purge_interval), name="housekeeping"
        )
        log.info("api started", currency=settings.ledger_currency, env=settings.ledger_env.value)
        try:
            yield
        finally:
            for task in (gauges, housekeeping):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await _close(state)

    # Swagger UI served from the package, not a CDN: the docs work offline and behind a CSP.
    app = FastAPIOffline(
        title="The ledger",
        version="1.0.0",
        description="An event-sourced order ledger: catalog, orders, reports.",
        lifespan=lifespan,
        redirect_slashes=False,
    )
    install_error_handlers(app, settings.ledger_currency)
    for router in (
        auth.router,
        users.router,
        products.router,
        orders.router,
        reports.router,
        ops.router,
    ):
        _summaries_from_docstrings(router)
        app.include_router(router)
    app.include_router(ops.root_router)
    admin.install(app)
    app.add_middleware(CachedReads, routes=products.CACHED_ROUTES, backend=opened.get)
    app.add_middleware(ReadRouting, replica=opened.replica)
    if settings.ledger_cors_origins.strip():
        origins = [o.strip() for o in settings.ledger_cors_origins.split(",") if o.strip()]
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Prefer",
                           "X-Request-ID", "X-Ledger-Consistency"],
            expose_headers=["X-Request-ID", "X-Ledger-Position", "X-Ledger-Stale",
                            "X-Ledger-Read-From", "Idempotent-Replayed", "Retry-After"],
        )  # fmt: skip
    app.add_middleware(RequestMiddleware, slow_request_ms=settings.ledger_slow_request_ms)
    instrument_app(app)  # before the lifespan opens any connection, so all are traced
    return app


def _summaries_from_docstrings(router: APIRouter) -> None:
    """Each route's one-line docstring becomes its OpenAPI summary (FastAPI would show the
    function's name there, and the docstring only as the description)."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.summary is None and route.description:
            route.summary = route.description.strip().splitlines()[0]


async def _open(settings: Settings) -> ApiState:
    url = await asyncio.to_thread(database.database_url, settings)
    size = settings.ledger_db_pool_size

    def read_pool(pool_class: type[Pool], url: str, name: str, timeout: float) -> Pool:
        async def check(conn: Conn) -> None:
            """A pooled connection is tried before it is handed out; when one is dead (the
            server restarted, or backends were terminated), so are its idle neighbours likely:
            all are checked at once, rather than each costing a request a failed try and a
            back-off."""
            try:
                await AsyncConnectionPool.check_connection(conn)
            except DatabaseError:
                await made.check()
                raise

        made = pool_class(
            url,
            check=check,
            min_size=1,
            max_size=size,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "cursor_factory": slow_queries.TimedAsyncCursor,
                "options": session_options(settings),
            },
            timeout=timeout,
            reconnect_timeout=RECONNECT_TIMEOUT_SECONDS,
            name=name,
            open=False,
        )
        return made

    pool = read_pool(RoutingPool, url, "read", 5)
    await pool.open(wait=False)
    ledger = await asyncio.to_thread(Ledger, settings, url, size)
    ledger.watch_appends()
    positions = ProjectionPositions(url, pool)
    await positions.start()
    replica = None
    if settings.database_replica_url:
        replica_pool = read_pool(
            AsyncConnectionPool,
            settings.database_replica_url,
            "replica",
            REPLICA_POOL_TIMEOUT_SECONDS,
        )
        replica = pool.replica = Replica(settings.database_replica_url, replica_pool, positions)
        await replica.start()
    redis = (
        Redis.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        if settings.redis_url
        else None
    )
    namespace = await _redis_namespace(settings, pool) if redis is not None else ""
    return ApiState(
        settings=settings,
        database_url=url,
        ledger=ledger,
        commands=ThreadPoolExecutor(max_workers=size, thread_name_prefix="command"),
        hashing=ThreadPoolExecutor(
            max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="argon2"
        ),
        pool=pool,
        positions=positions,
        replica=replica,
        redis=redis,
        limiter=RateLimiter(redis, namespace),
        cache=ResponseCache(redis, namespace),
    )


async def _redis_namespace(settings: Settings, pool: ReadPool) -> str:
    """LEDGER_REDIS_NAMESPACE, or a short hash of the database's identity (its cluster's
    system identifier and its name), the same in every process of one ledger and different
    for two ledgers, even two databases of one server, sharing a Redis."""
    if settings.ledger_redis_namespace:
        return settings.ledger_redis_namespace
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT system_identifier, current_database() AS name FROM pg_control_system()"
        )
        row = await cursor.fetchone()
    if row is None:  # pragma: no cover - the function always returns one row
        raise RuntimeError("pg_control_system() returned no row")
    identity = f"{row['system_identifier']}/{row['name']}"
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


async def _close(state: ApiState) -> None:
    await state.positions.stop()
    if state.replica is not None:
        await state.replica.stop()
    state.commands.shutdown(wait=True)
    state.hashing.shutdown(wait=True)
    await asyncio.to_thread(state.ledger.close)
    await state.pool.close()
    if state.redis is not None:
        await state.redis.aclose()  # type: ignore[attr-defined]  # stubs predate aclose


async def _pool_gauges(state: ApiState) -> None:
    """Keeps the pool gauges current, so every worker reports its own."""
    while True:
        stats = state.pool.get_stats()
        DB_POOL.labels("read", "size").set(stats.get("pool_size", 0))
        DB_POOL.labels("read", "idle").set(stats.get("pool_available", 0))
        DB_POOL.labels("read", "waiting").set(stats.get("requests_waiting", 0))
        write = state.ledger.recorder.datastore.pool.get_stats()  # type: ignore[attr-defined]
        DB_POOL.labels("write", "size").set(write.get("pool_size", 0))
        DB_POOL.labels("write", "idle").set(write.get("pool_available", 0))
        DB_POOL.labels("write", "waiting").set(write.get("requests_waiting", 0))
        await asyncio.sleep(POOL_GAUGE_SECONDS)
