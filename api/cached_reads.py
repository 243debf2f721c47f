"""The read-cache middleware: public catalog responses (the product list and detail), never
anything user-specific, answered from the store (api.cache) before FastAPI routes the request.

Keys carry the projection's position and generation as `projection_positions` holds them, and a
version of what the response shows (reads.products: the position for the list, a digest of the
product's row for its detail, so that a write to one product does not evict another's entry),
all read in one query on the read pool before the body, where the request reads
(api.read_source): on the primary, an entry is never older than any position a process has
acknowledged; on the replica, which serves a request only once it has the client's own last
write, never older than that write. A primary that has not yet reached the client's write sends
the request on to the route, which waits for it. A rebuild, which bumps the generation, makes
every key new even at an unchanged position. A failed version read bypasses the cache, unless no
connection came within the pool's timeout: that is the route's 503 at once.

Misses of one key in one worker share one run of the route: the first runs it, the others wait
(bounded) for its body. Its body was read after the version they all read, so it is at least as
new as each of them needs.

Only a 200 that the app itself produced for exactly the same path and query is stored, so a
hit answers what the route would have answered at that position. Which routes are cached is
declared with the routes (`cached_routes`): the paths matched are the routes' own.

The middleware is handed what it needs: the routes, and a callable giving the worker's pool,
store and currency once the lifespan opened them (None before)."""

from __future__ import annotations

import asyncio
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
# How long a miss waits for another request's run of the same key before running its own.
SHARED_MISS_WAIT_SECONDS = 2.0
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
    # One row: position, generation and version (NULL: nothing to cache), with the path's
    # parameters by name.
    version: str


def cached_routes(
    router: APIRouter, projection: str, endpoints: Mapping[str, tuple[Callable[..., Any], str]]
) -> tuple[CachedRoute, ...]:
    """The GET routes of `router` whose endpoints are `endpoints` (by cache key kind, each with
    its version query), reading `projection`."""
    routes = {
        route.endpoint: route
        for route in router.routes
        if isinstance(route, APIRoute) and "GET" in (route.methods or ())
    }
    return tuple(
        CachedRoute(kind, projection, routes[endpoint], version)
        for kind, (endpoint, version) in endpoints.items()
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
        # The misses running the route now, by key: their bodies (None: no 200 to share).
        self._misses: dict[str, asyncio.Future[bytes | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = self._cacheable(scope)
        backend = self.backend() if matched else None
        if matched is None or backend is None:
            await self.app(scope, receive, send)
            return
        route, params = matched
        source = read_source.current()
        if source is not None:  # the replica serves it if it has the client's own last write
            source.choose((route.projection,), source.client_position)
        try:
            position, generation, version = await _version(backend.pool, route.version, params)
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
        if version is None or (source is not None and position < source.client_position):
            # Nothing to cache (a 404), or the route waits for the client's write.
            await self.app(scope, receive, send)
            return
        query = scope["path"].encode() + b"?" + scope["query_string"]
        cache = backend.cache
        key = cache.key(route.kind, version, query, generation)
        cached = await cache.get(key)
        if cached is None and (running := self._misses.get(key)) is not None:
            cached = await _shared(running)
        if cached is not None:
            scope["route"] = route.route
            await _send_json(send, cached)
            return
        await self._miss(key, scope, receive, Storing(send, cache, key))

    async def _miss(self, key: str, scope: Scope, receive: Receive, send: Storing) -> None:
        """Runs the route, sharing its body with the misses of `key` that come meanwhile."""
        running = self._misses.setdefault(key, asyncio.get_running_loop().create_future())
        try:
            await self.app(scope, receive, send)
        finally:
            if self._misses.get(key) is running:
                del self._misses[key]
            if not running.done():
                running.set_result(send.body)

    def _cacheable(self, scope: Scope) -> tuple[CachedRoute, dict[str, str]] | None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        if any(name == CONSISTENCY_HEADER for name, _ in scope["headers"]):
            return None  # the route waits for the asked position first
        path: str = scope["path"]
        for route in self.routes:
            if match := route.route.path_regex.fullmatch(path):
                return route, match.groupdict()
        return None


async def _version(
    pool: ReadPool, query: str, params: dict[str, str]
) -> tuple[int, int, str | None]:
    """The projection's position and generation as committed, and the response's version."""
    async with pool.connection() as conn:
        cursor = await conn.execute(query, params)
        row = await cursor.fetchone()
    if row is None:  # no projector has written yet
        return 0, 0, None
    version = row["version"]
    return int(row["position"]), int(row["generation"]), None if version is None else str(version)


async def _shared(running: asyncio.Future[bytes | None]) -> bytes | None:
    """The body of another request's miss of the same key, if it comes in time."""
    try:
        return await asyncio.wait_for(asyncio.shield(running), SHARED_MISS_WAIT_SECONDS)
    except TimeoutError:
        return None


class Storing:
    """`send`, keeping a 200's body and storing it once complete; `body` is it then."""

    def __init__(self, send: Send, cache: ResponseCache, key: str) -> None:
        self._send = send
        self._cache = cache
        self._key = key
        self._status = 0
        self._chunks: list[bytes] = []
        self.body: bytes | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._status = message["status"]
        elif message["type"] == "http.response.body" and self._status == 200:
            self._chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await self._send(message)
                self.body = b"".join(self._chunks)
                await self._cache.put(self._key, self.body)
                return
        await self._send(message)


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
