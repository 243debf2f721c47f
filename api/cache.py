"""The read cache: public catalog responses (the product list and detail), never anything
user-specific, answered before FastAPI routes the request.

Keys carry the projection's position and generation as `projection_positions` holds them, read
(one query on the read pool) before the body: an entry is never older than any position a
process has acknowledged, and a rebuild, which bumps the generation, makes every key new even
at an unchanged position. A projection that moves on makes new keys: nothing is ever
invalidated, old entries just age out. Two levels: a bounded in-process LRU (a hit costs no
routing, validation or serialisation) and Redis, shared by the workers, when configured, under
the ledger's namespace. Any Redis error bypasses Redis; a failed position read bypasses the
cache, unless no connection came within the pool's timeout: that is the route's 503 at once.

Only a 200 that the app itself produced for exactly the same path and query is stored, so a
hit answers what the route would have answered at that position."""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
from psycopg_pool import PoolTimeout
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import render
from ledger.logs import get_logger
from reads import ReadPool

if TYPE_CHECKING:
    from api.state import ApiState

TTL_SECONDS = 60
LOCAL_MAX_BYTES = 32 * 1024 * 1024
LOCAL_MAX_ENTRIES = 4096
CONSISTENCY_HEADER = b"x-ledger-consistency"
_VERSION = "SELECT position, generation FROM projection_positions WHERE name = %s"
log = get_logger("ledger.api.cache")


class ResponseCache:
    """Response bodies by key: in process first, then Redis."""

    def __init__(
        self,
        redis: Redis[bytes] | None,
        namespace: str,
        max_bytes: int = LOCAL_MAX_BYTES,
        max_entries: int = LOCAL_MAX_ENTRIES,
    ) -> None:
        self._redis = redis
        self._prefix = f"ledger:cache:{namespace}:"
        self._local: OrderedDict[str, bytes] = OrderedDict()
        self._local_bytes = 0
        self._max_bytes = max_bytes
        self._max_entries = max_entries

    @staticmethod
    def key(kind: str, position: int, query: bytes, generation: int) -> str:
        """The key of `query`'s response read at `position` of the projection's `generation`
        (its count of rebuilds, 0 until the first)."""
        digest = hashlib.sha256(query).hexdigest()[:32]
        return f"{kind}:{generation}:{position}:{digest}"

    async def get(self, key: str) -> bytes | None:
        body = self._local.get(key)
        if body is not None:
            self._local.move_to_end(key)
            return body
        if self._redis is None:
            return None
        try:
            value = await self._redis.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            log.debug("cache read bypassed", error=str(exc))
            return None
        if not isinstance(value, bytes):
            return None
        self._remember(key, value)
        return value

    async def put(self, key: str, body: bytes) -> None:
        self._remember(key, body)
        if self._redis is None:
            return
        try:
            await self._redis.set(self._prefix + key, body, ex=TTL_SECONDS)
        except (RedisError, OSError) as exc:
            log.debug("cache write bypassed", error=str(exc))

    def _remember(self, key: str, body: bytes) -> None:
        if len(body) > self._max_bytes:
            return
        previous = self._local.pop(key, None)
        if previous is not None:
            self._local_bytes -= len(previous)
        self._local[key] = body
        self._local_bytes += len(body)
        while self._local_bytes > self._max_bytes or len(self._local) > self._max_entries:
            _, evicted = self._local.popitem(last=False)
            self._local_bytes -= len(evicted)


@dataclass(frozen=True)
class CachedRoute:
    """A public GET whose 200 depends only on its path, its query and one projection."""

    kind: str
    path: re.Pattern[str]
    projection: str
    template: str  # the route template, as the HTTP metrics label it


class _Template:
    """What the request middleware reads from `scope["route"]` for the metrics label."""

    def __init__(self, path: str) -> None:
        self.path = path


class CachedReads:
    """ASGI middleware answering cached GETs; on a miss it stores what the app answers."""

    def __init__(self, app: ASGIApp, routes: tuple[CachedRoute, ...]) -> None:
        self.app = app
        self.routes = routes
        self._templates = {route.kind: _Template(route.template) for route in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._cacheable(scope)
        state: ApiState | None = getattr(scope["app"].state, "api", None) if route else None
        if route is None or state is None:
            await self.app(scope, receive, send)
            return
        try:
            version = await _version(state.pool, route.projection)
        except PoolTimeout as exc:
            # The pool waited its whole timeout: the route would wait as long again, for the
            # same 503.
            scope["route"] = self._templates[route.kind]
            await render(exc, state.settings.ledger_currency)(scope, receive, send)
            return
        except psycopg.Error as exc:
            log.debug("cache bypassed: projection position unreadable", error=str(exc))
            await self.app(scope, receive, send)
            return
        position, generation = version
        query = scope["path"].encode() + b"?" + scope["query_string"]
        key = state.cache.key(route.kind, position, query, generation)
        cached = await state.cache.get(key)
        if cached is not None:
            scope["route"] = self._templates[route.kind]
            await _send_json(send, cached)
            return
        await self.app(scope, receive, _storing(send, state.cache, key))

    def _cacheable(self, scope: Scope) -> CachedRoute | None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        if any(name == CONSISTENCY_HEADER for name, _ in scope["headers"]):
            return None  # the route waits for the asked position first
        path: str = scope["path"]
        for route in self.routes:
            if route.path.fullmatch(path):
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
