"""The read cache's store: response bodies by key, in process first, then Redis.

The middleware that answers cached catalog reads from it is api.cached_reads. Keys carry the
projection's generation and a version of what is shown (see there), so nothing is ever
invalidated: a change makes new keys, and old entries just age out. Two levels: a bounded in-process
LRU (a hit costs no routing, validation or serialisation) and Redis, shared by the workers,
when configured, under the ledger's namespace. Any Redis error bypasses Redis."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ledger.logs import get_logger

TTL_SECONDS = 60
LOCAL_MAX_BYTES = 32 * 1024 * 1024
LOCAL_MAX_ENTRIES = 4096
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
    def key(kind: str, version: int | str, query: bytes, generation: int) -> str:
        """The key of `query`'s response at `version` (api.cached_reads: a position, or a
        digest of the row shown) of the projection's `generation` (its count of rebuilds, 0
        until the first)."""
        digest = hashlib.sha256(query).hexdigest()[:32]
        return f"{kind}:{generation}:{version}:{digest}"

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
