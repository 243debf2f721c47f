"""A Redis cache of public responses (the product list and detail), never of anything
user-specific. Keys carry the projection position the response was read at, so an entry is
never older than what a consistency token asks for. Any Redis error bypasses the cache."""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ledger.logs import get_logger

TTL_SECONDS = 60
log = get_logger("ledger.api.cache")


class ResponseCache:
    def __init__(self, redis: Redis[bytes] | None) -> None:
        self._redis = redis

    @property
    def enabled(self) -> bool:
        return self._redis is not None

    @staticmethod
    def key(kind: str, position: int, query: str) -> str:
        digest = hashlib.sha256(query.encode()).hexdigest()[:32]
        return f"ledger:cache:{kind}:{position}:{digest}"

    async def get(self, key: str) -> bytes | None:
        if self._redis is None:
            return None
        try:
            value = await self._redis.get(key)
        except (RedisError, OSError) as exc:
            log.debug("cache read bypassed", error=str(exc))
            return None
        return value if isinstance(value, bytes) else None

    async def put(self, key: str, body: bytes) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.set(key, body, ex=TTL_SECONDS)
        except (RedisError, OSError) as exc:
            log.debug("cache write bypassed", error=str(exc))
