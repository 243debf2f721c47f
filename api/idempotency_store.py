"""The `idempotency_keys` table: claims and their leases, stored responses, and the purge.

api.idempotency decides when each statement runs; here is only what each does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from reads import Conn, ReadPool

KEEP_HOURS = 24

_CLAIM = """
INSERT INTO idempotency_keys (scope, key, request_hash, lease_until)
VALUES (%(scope)s, %(key)s, %(hash)s, now() + make_interval(secs => %(lease)s))
ON CONFLICT (scope, key) DO UPDATE
    SET request_hash = EXCLUDED.request_hash, completed_at = NULL, status_code = NULL,
        body = NULL, headers = NULL, lease_until = EXCLUDED.lease_until,
        -- An expired key is a new request (a new command id); a lapsed lease is the same one.
        created_at = CASE WHEN idempotency_keys.created_at < now() - interval '24 hours'
                          THEN now() ELSE idempotency_keys.created_at END
    WHERE idempotency_keys.created_at < now() - interval '24 hours'
       OR (idempotency_keys.completed_at IS NULL AND idempotency_keys.lease_until < now()
           AND idempotency_keys.request_hash = EXCLUDED.request_hash)
RETURNING created_at
"""
_SELECT = """
SELECT request_hash, status_code, body, headers FROM idempotency_keys
WHERE scope = %s AND key = %s AND created_at >= now() - interval '24 hours'
"""
_RENEW = """
UPDATE idempotency_keys SET lease_until = now() + make_interval(secs => %s)
WHERE scope = %s AND key = %s AND completed_at IS NULL
"""
_COMPLETE = """
UPDATE idempotency_keys SET completed_at = now(), status_code = %s, body = %s, headers = %s
WHERE scope = %s AND key = %s
"""
_RELEASE = "DELETE FROM idempotency_keys WHERE scope = %s AND key = %s AND completed_at IS NULL"
_PURGE = """
DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => %s)
AND (completed_at IS NOT NULL OR lease_until IS NULL OR lease_until < now())
"""


async def claim(pool: ReadPool, scope: str, key: str, digest: str, lease: float) -> datetime | None:
    """When the key was first claimed, if this request now holds it; None if another does."""
    params = {"scope": scope, "key": key, "hash": digest, "lease": lease}
    async with pool.connection() as conn:
        row = await (await conn.execute(_CLAIM, params)).fetchone()
    return None if row is None else row["created_at"]


async def renew(pool: ReadPool, scope: str, key: str, lease: float) -> None:
    """The claim lapses `lease` seconds from now, unless renewed again."""
    async with pool.connection() as conn:
        await conn.execute(_RENEW, (lease, scope, key))


async def release(pool: ReadPool, scope: str, key: str) -> None:
    """Gives up an uncompleted claim, so the next request with the key runs the command."""
    async with pool.connection() as conn:
        await conn.execute(_RELEASE, (scope, key))


async def complete(
    pool: ReadPool, scope: str, key: str, status_code: int, body: bytes, headers: dict[str, str]
) -> None:
    """Stores the response the key's requests are answered with from now on."""
    async with pool.connection() as conn:
        await conn.execute(_COMPLETE, (status_code, body, Jsonb(headers), scope, key))


async def stored(pool: ReadPool, scope: str, key: str) -> dict[str, Any] | None:
    """The key's row (its request hash, and its response once completed), unless expired."""
    async with pool.connection() as conn:
        return await (await conn.execute(_SELECT, (scope, key))).fetchone()


async def purge_expired_keys(conn: Conn) -> int:
    """Deletes keys older than KEEP_HOURS that no request holds; returns how many."""
    cursor = await conn.execute(_PURGE, (KEEP_HOURS,))
    return cursor.rowcount
