"""Housekeeping: what has expired is deleted on a schedule, so the API's tables stop growing.

Every API process runs the loop; a transaction-scoped advisory lock lets one of them purge at a
time (the others skip that round). Each round deletes idempotency keys past their 24 h that no
request holds, refresh tokens past their expiry, and command ids past their retention."""

from __future__ import annotations

import asyncio

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

from api.idempotency_store import purge_expired_keys
from api.tokens import purge_expired_tokens
from ledger import command_log
from ledger.logs import get_logger

# pg_try_advisory_xact_lock key of the purge ("ledger housekeeping", as a 63-bit number).
PURGE_LOCK = 0x6C65646765726870
log = get_logger("ledger.api.housekeeping")


async def purge_expired(conn: AsyncConnection[DictRow]) -> dict[str, int] | None:
    """Deletes what has expired, in one transaction; the rows deleted per table, or None when
    another process is purging right now."""
    async with conn.transaction():
        cursor = await conn.execute("SELECT pg_try_advisory_xact_lock(%s) AS got", (PURGE_LOCK,))
        row = await cursor.fetchone()
        if row is None or not row["got"]:
            return None
        commands = await conn.execute(command_log.PURGE, (command_log.RETENTION,))
        return {
            "idempotency_keys": await purge_expired_keys(conn),
            "refresh_tokens": await purge_expired_tokens(conn),
            "command_ids": commands.rowcount,
        }


async def keep_house(pool: AsyncConnectionPool[AsyncConnection[DictRow]], every: float) -> None:
    """Purges every `every` seconds until cancelled; a failed round is logged and retried at
    the next one."""
    while True:
        try:
            async with pool.connection() as conn:
                purged = await purge_expired(conn)
            if purged:
                log.info("expired rows purged", **purged)
        except Exception as exc:  # the next round tries again; the API must not stop
            log.warning("housekeeping failed", error=str(exc), error_type=type(exc).__name__)
        await asyncio.sleep(every)
