"""Fixed-window rate limits: in Redis when configured (shared by every worker), in process
otherwise, and in process whenever Redis errors, so a Redis outage never blocks sign-in."""

from __future__ import annotations

import hashlib
import math
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.errors import ApiError
from ledger.logs import get_logger

Rate = tuple[int, int]  # (requests, window seconds)
_MAX_LOCAL_KEYS = 100_000
# INCR and EXPIRE in one step: a crash between them cannot leave a key that never expires.
_INCREMENT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if count == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return count
"""
log = get_logger("ledger.api.ratelimit")


class RateLimiter:
    def __init__(self, redis: Redis[bytes] | None) -> None:
        self._redis = redis
        self._local: dict[str, tuple[int, float]] = {}

    async def hit(self, bucket: str, identity: str, rate: Rate | None) -> None:
        """Counts one request; 429 once the window's allowance is spent."""
        if rate is None:
            return
        count, retry_after = await self._add(bucket, identity, rate, 1)
        if count > rate[0]:
            raise _limited(retry_after)

    async def check(self, bucket: str, identity: str, rate: Rate | None) -> None:
        """429 when the allowance is already spent; counts nothing."""
        if rate is None:
            return
        count, retry_after = await self._add(bucket, identity, rate, 0)
        if count >= rate[0]:
            raise _limited(retry_after)

    async def add(self, bucket: str, identity: str, rate: Rate | None) -> None:
        """Counts one event (a failed login) without refusing anything."""
        if rate is not None:
            await self._add(bucket, identity, rate, 1)

    async def _add(self, bucket: str, identity: str, rate: Rate, amount: int) -> tuple[int, int]:
        period = rate[1]
        now = time.time()
        window = int(now // period)
        retry_after = max(1, math.ceil((window + 1) * period - now))
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        key = f"ledger:rl:{bucket}:{digest}:{period}:{window}"
        if self._redis is not None:
            try:
                count = await self._redis.eval(_INCREMENT, 1, key, amount, period + 1)  # type: ignore[no-untyped-call]
                return int(count), retry_after
            except (RedisError, OSError) as exc:
                log.warning("rate limiter falling back to process memory", error=str(exc))
        return self._add_local(key, amount, now + period), retry_after

    def _add_local(self, key: str, amount: int, expires_at: float) -> int:
        now = time.time()
        if len(self._local) > _MAX_LOCAL_KEYS:
            self._local = {k: v for k, v in self._local.items() if v[1] > now}
        count, expiry = self._local.get(key, (0, expires_at))
        if expiry <= now:
            count, expiry = 0, expires_at
        count += amount
        self._local[key] = (count, expiry)
        return count


def _limited(retry_after: int) -> ApiError:
    return ApiError(
        "RATE_LIMITED",
        "too many requests, try again later",
        {"retry_after": retry_after},
        {"Retry-After": str(retry_after)},
    )
