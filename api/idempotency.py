"""Idempotency-Key for command POSTs: the same key, caller and body within 24 h replays the
first response and has no second effect, even when the two requests race.

The key is claimed with one INSERT ... ON CONFLICT before the command runs, so exactly one
request runs it; a concurrent duplicate waits (bounded) for the winner's stored response.
Responses of 5xx are not stored: the claim is released so a retry can run the command."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from api.errors import ApiError, render
from ledger.domain.errors import DomainError

HEADER = "Idempotency-Key"
REPLAY_WAIT_SECONDS = 15.0
_POLL_SECONDS = 0.05
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
# Headers that are part of the first response and must come back with it.
_KEPT_HEADERS = ("x-ledger-position", "x-ledger-stale", "location", "content-type")

_CLAIM = """
INSERT INTO idempotency_keys (scope, key, request_hash) VALUES (%s, %s, %s)
ON CONFLICT (scope, key) DO UPDATE
    SET request_hash = EXCLUDED.request_hash, created_at = now(), completed_at = NULL,
        status_code = NULL, body = NULL, headers = NULL
    WHERE idempotency_keys.created_at < now() - interval '24 hours'
RETURNING scope
"""
_SELECT = """
SELECT request_hash, status_code, body, headers FROM idempotency_keys
WHERE scope = %s AND key = %s AND created_at >= now() - interval '24 hours'
"""
_COMPLETE = """
UPDATE idempotency_keys SET completed_at = now(), status_code = %s, body = %s, headers = %s
WHERE scope = %s AND key = %s
"""
_RELEASE = "DELETE FROM idempotency_keys WHERE scope = %s AND key = %s AND completed_at IS NULL"

Pool = AsyncConnectionPool[AsyncConnection[DictRow]]


async def idempotent(
    request: Request,
    pool: Pool,
    scope: str,
    currency: str,
    execute: Callable[[], Awaitable[Response]],
) -> Response:
    """Runs `execute` once per (scope, Idempotency-Key); without the header, just runs it."""
    key = request.headers.get(HEADER)
    if key is None:
        return await execute()
    if not _KEY.match(key):
        raise ApiError("VALIDATION_ERROR", f"{HEADER} must be 1 to 200 visible ASCII characters")
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(), await request.body()):
        digest.update(len(part).to_bytes(8, "big") + part)
    request_hash = digest.hexdigest()

    async with pool.connection() as conn:
        claimed = await (await conn.execute(_CLAIM, (scope, key, request_hash))).fetchone()
    if claimed is None:
        return await _replay(pool, scope, key, request_hash)
    try:
        try:
            response = await execute()
        except (DomainError, ApiError) as exc:
            response = render(exc, currency)
    except BaseException:
        async with pool.connection() as conn:
            await conn.execute(_RELEASE, (scope, key))
        raise
    async with pool.connection() as conn:
        if response.status_code >= 500:
            await conn.execute(_RELEASE, (scope, key))
        else:
            headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
            await conn.execute(
                _COMPLETE, (response.status_code, bytes(response.body), Jsonb(headers), scope, key)
            )
    return response


async def _replay(pool: Pool, scope: str, key: str, request_hash: str) -> Response:
    deadline = time.monotonic() + REPLAY_WAIT_SECONDS
    while True:
        async with pool.connection() as conn:
            row = await (await conn.execute(_SELECT, (scope, key))).fetchone()
        if row is None:
            # The first request failed and released its claim (or it just expired): retry is
            # the client's call, and a fresh request with this key will run the command.
            raise ApiError("CONFLICT", "the first request with this key failed; send it again")
        if row["request_hash"] != request_hash:
            raise ApiError(
                "IDEMPOTENCY_KEY_REUSED",
                f"this {HEADER} was already used with a different request",
            )
        if row["status_code"] is not None:
            return _stored_response(row)
        if time.monotonic() >= deadline:
            raise ApiError("CONFLICT", "a request with this key is still being processed")
        await asyncio.sleep(_POLL_SECONDS)


def _stored_response(row: dict[str, Any]) -> Response:
    headers = dict(row["headers"] or {})
    media_type = headers.pop("content-type", "application/json")
    headers["Idempotent-Replayed"] = "true"
    return Response(
        content=bytes(row["body"] or b""),
        status_code=int(row["status_code"]),
        headers=headers,
        media_type=media_type,
    )
