"""The read-cache middleware: public catalog responses (the product list and detail), never
anything user-specific, answered from the store (api.cache) before FastAPI routes the request.

Keys carry the projection's position and generation as `projection_positions` holds them, read
(one query on the read pool) before the body, where the request reads (api.read_source): on
the primary, an entry is never older than any position a process has acknowledged; on the
replica, which serves a request only once it has the client's own last write, never older
than that write. A primary that has not yet reached the client's write sends the request on
to the route, which waits for it. A rebuild, which bumps the generation, makes every key new
even at an unchanged position. A failed position read bypasses the cache, unless no connection
came within the pool's timeout: that is the route's 503 at once.

Only a 200 that the app itself produced for exactly the same path and query is stored, so a
hit answers what the route would have answered at that position. Which routes are cached is
declared with the routes (`cached_routes`): the paths matched are the routes' own.

The middleware is handed what it needs: the routes, and a callable giving the worker's pool,
store and currency once the lifespan opened them (None before)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from fastapi import APIRouter
from fastapi.routing import APIRoute
from psycopg_pool import PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import read_source
from api.cache import ResponseCache
from api.errors import render
from ledger.logs import get_logger
from reads import ReadPool

CONSISTENCY_HEADER = b"x-ledger-consistency"
_VERSION = "SELECT position, generation FROM projection_positions WHERE name = %s"
log = get_logger("ledger.api.cache")


class CacheBackend(Protocol):
    """What the middleware reads with: the read pool, the store and the currency (of the
    error envelope)."""

    @property
    def pool(self) -> ReadPool: ...

    @property
    def cache(self) -> ResponseCache: ...

    @property
    def currency(self) -> str: ...


@dataclass(frozen=True)
class CachedRoute:
    """A public GET whose 200 depends only on its path, its query and one projection."""

    kind: str  # the cache key's kind
    projection: str
    route: APIRoute  # its path template labels the metrics; its compiled path matches


def cached_routes(
    router: APIRouter, projection: str, endpoints: Mapping[str, Callable[..., Any]]
) -> tuple[CachedRoute, ...]:
    """The GET routes of `router` whose endpoints are `endpoints` (by cache key kind), cached
    while `projection` stays put."""
    routes = {
        route.endpoint: route
        for route in router.routes
        if isinstance(route, APIRoute) and "GET" in (route.methods or ())
    }
    return tuple(
        CachedRoute(kind, projection, routes[endpoint]) for kind, endpoint in endpoints.items()
    )


class CachedReads:
    """ASGI middleware answering cached GETs; on a miss it stores what the app answers."""

    def __init__(
        self,
        app: ASGIApp,
        routes: tuple[CachedRoute, ...],
        backend: Callable[[], CacheBackend | None],
    ) -> None:
        self.app = app
        self.routes = routes
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._cacheable(scope)
        backend = self.backend() if route else None
        if route is None or backend is None:
            await self.app(scope, receive, send)
            return
        source = read_source.current()
        if source is not None:  # the replica serves it if it has the client's own last write
            source.choose((route.projection,), source.client_position)
        try:
            version = await _version(backend.pool, route.projection)
        except PoolTimeout as exc:
            # The pool waited its whole timeout: the route would wait as long again, for the
            # same 503.
            scope["route"] = route.route
            await render(exc, backend.currency)(scope, receive, send)
            return
        except psycopg.Error as exc:
            log.debug("cache bypassed: projection position unreadable", error=str(exc))
            await self.app(scope, receive, send)
            return
        position, generation = version
        if source is not None and position < source.client_position:
            await self.app(scope, receive, send)  # the route waits for the client's write
            return
        query = scope["path"].encode() + b"?" + scope["query_string"]
        cache = backend.cache
        key = cache.key(route.kind, position, query, generation)
        cached = await cache.get(key)
        if cached is not None:
            scope["route"] = route.route
            await _send_json(send, cached)
            return
        await self.app(scope, receive, _storing(send, cache, key))

    def _cacheable(self, scope: Scope) -> CachedRoute | None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        if any(name == CONSISTENCY_HEADER for name, _ in scope["headers"]):
            return None  # the route waits for the asked position first
        path: str = scope["path"]
        for route in self.routes:
            if route.route.path_regex.fullmatch(path):
                return route
        return None


async def _version(pool: ReadPool, projection: str) -> tuple[int, int]:
    """The projection's (position, generation) as committed."""
    async with pool.connection() as conn:
        cursor = await conn.execute(_VERSION, (projection,))
        row = await cursor.fetchone()
    return (int(row["position"]), int(row["generation"])) if row else (0, 0)


def _storing(send: Send, cache: ResponseCache, key: str) -> Send:
    """`send`, keeping a 200's body and storing it once complete."""
    status = 0
    chunks: list[bytes] = []

    async def storing_send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and status == 200:
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await send(message)
                await cache.put(key, b"".join(chunks))
                return
        await send(message)

    return storing_send


async def _send_json(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
