"""Fixed-window rate limits: in Redis when configured (shared by every worker), in process
otherwise, and in process whenever Redis errors, so a Redis outage never blocks sign-in.

Every key carries the ledger's namespace, so ledgers sharing a Redis share no allowance.

Failed logins are limited by reservation: a slot is taken, atomically with the check, before
the password is verified and given back unless the password was wrong, so concurrent attempts
cannot all pass a check made before any of them is counted."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.errors import ApiError
from ledger.logs import get_logger

Rate = tuple[int, int]  # (requests, window seconds)
_MAX_LOCAL_KEYS = 100_000
# INCR and EXPIRE in one step: a crash between them cannot leave a key that never expires.
_INCREMENT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
# A slot if one is left (the check and the count in one step), else 0 and nothing counted.
_RESERVE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return 0 end
count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
"""
# Gives a slot back; a window that has expired meanwhile is not brought back to life.
_RELEASE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""
log = get_logger("ledger.api.ratelimit")


@dataclass(frozen=True)
class Reservation:
    """A slot taken from a window's allowance, where it was taken."""

    key: str
    in_redis: bool


class RateLimiter:
    def __init__(self, redis: Redis[bytes] | None, namespace: str) -> None:
        self._redis = redis
        self._namespace = namespace
        self._local: dict[str, tuple[int, float]] = {}
        # The fallback's check-and-count is one step under this lock, as the Lua script is.
        self._local_lock = threading.Lock()

    async def hit(self, bucket: str, identity: str, rate: Rate | None) -> None:
        """Counts one request; 429 once the window's allowance is spent."""
        if rate is None:
            return
        count, retry_after = await self._count(bucket, identity, rate)
        if count > rate[0]:
            raise _limited(retry_after)

    async def reserve(self, bucket: str, identity: str, rate: Rate | None) -> Reservation | None:
        """Takes a slot of the window's allowance, or 429 when none is left (counting
        nothing); None when the limit is off. `release` gives the slot back."""
        if rate is None:
            return None
        key, retry_after, expires_at = self._window(bucket, identity, rate)
        if self._redis is not None:
            try:
                taken = await self._redis.eval(_RESERVE, 1, key, rate[0], rate[1] + 1)  # type: ignore[no-untyped-call]
            except (RedisError, OSError) as exc:
                log.warning("rate limiter falling back to process memory", error=str(exc))
            else:
                if not int(taken):
                    raise _limited(retry_after)
                return Reservation(key, in_redis=True)
        if not self._reserve_local(key, rate[0], expires_at):
            raise _limited(retry_after)
        return Reservation(key, in_redis=False)

    async def release(self, reservation: Reservation | None) -> None:
        """Gives back a slot that `reserve` took (an attempt that is not to count)."""
        if reservation is None:
            return
        if reservation.in_redis and self._redis is not None:
            try:
                await self._redis.eval(_RELEASE, 1, reservation.key)  # type: ignore[no-untyped-call]
            except (RedisError, OSError) as exc:
                # The slot stays taken until its window ends: the limit errs on the safe side.
                log.warning("rate limiter could not release a slot", error=str(exc))
            return
        with self._local_lock:
            count, expiry = self._local.get(reservation.key, (0, 0.0))
            if count > 0 and expiry > time.time():
                self._local[reservation.key] = (count - 1, expiry)

    def _window(self, bucket: str, identity: str, rate: Rate) -> tuple[str, int, float]:
        """The key of the current window, the seconds until it ends, and when it ends."""
        period = rate[1]
        now = time.time()
        window = int(now // period)
        retry_after = max(1, math.ceil((window + 1) * period - now))
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        key = f"ledger:rl:{self._namespace}:{bucket}:{digest}:{period}:{window}"
        return key, retry_after, now + period

    async def _count(self, bucket: str, identity: str, rate: Rate) -> tuple[int, int]:
        """Counts one request in the current window; the count and the seconds left."""
        key, retry_after, expires_at = self._window(bucket, identity, rate)
        if self._redis is not None:
            try:
                counted = await self._redis.eval(_INCREMENT, 1, key, rate[1] + 1)  # type: ignore[no-untyped-call]
                return int(counted), retry_after
            except (RedisError, OSError) as exc:
                log.warning("rate limiter falling back to process memory", error=str(exc))
        with self._local_lock:
            count, expiry = self._local_window(key, expires_at)
            self._local[key] = (count + 1, expiry)
            return count + 1, retry_after

    def _reserve_local(self, key: str, limit: int, expires_at: float) -> bool:
        with self._local_lock:
            count, expiry = self._local_window(key, expires_at)
            if count >= limit:
                return False
            self._local[key] = (count + 1, expiry)
            return True

    def _local_window(self, key: str, expires_at: float) -> tuple[int, float]:
        """A window's count and end in process memory (the caller holds the lock)."""
        now = time.time()
        if len(self._local) > _MAX_LOCAL_KEYS:
            self._local = {k: v for k, v in self._local.items() if v[1] > now}
        count, expiry = self._local.get(key, (0, expires_at))
        return (0, expires_at) if expiry <= now else (count, expiry)


def _limited(retry_after: int) -> ApiError:
    return ApiError(
        "RATE_LIMITED",
        "too many requests, try again later",
        {"retry_after": retry_after},
        {"Retry-After": str(retry_after)},
    )
