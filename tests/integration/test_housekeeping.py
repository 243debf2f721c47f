"""Housekeeping on a schedule: a running API deletes expired idempotency keys, expired
refresh tokens and command ids past their day, keeps everything else, and only one process
purges at a time."""

from __future__ import annotations

import asyncio

import psycopg
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from api.app import create_app
from api.housekeeping import PURGE_LOCK, purge_expired
from ledger.application import Ledger
from ledger.commands import CreateProduct
from tests.data import make_settings
from tests.processes import wait_until


def _rows(database_url: str, query: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return sorted(str(r[0]) for r in conn.execute(query).fetchall())


def test_a_running_api_purges_what_expired_and_keeps_the_rest(
    ledger: Ledger, database_url: str
) -> None:
    kept = ledger.create_product(
        CreateProduct(name="Mug", description="A mug", price=1000, category="mugs")
    )
    ledger.create_product(
        CreateProduct(name="Cup", description="A cup", price=900, category="mugs")
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO idempotency_keys (scope, key, request_hash, created_at, completed_at) "
            "VALUES ('s', 'old', 'h', now() - interval '25 hours', now() - interval '25 hours'),"
            " ('s', 'new', 'h', now(), now())"
        )
        conn.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) VALUES "
            "('old', 'f', 'u', now() - interval '1 day'), "
            "('new', 'f', 'u', now() + interval '1 day')"
        )
        # One command id a day and an hour old; the other (just committed) stays.
        conn.execute(
            "UPDATE command_ids SET committed_at = now() - interval '25 hours' "
            "WHERE aggregate_id <> %s",
            (kept.aggregate_id,),
        )
    settings = make_settings(database_url=database_url, ledger_purge_interval=0.2)
    with TestClient(create_app(settings)):
        wait_until(
            lambda: _rows(database_url, "SELECT key FROM idempotency_keys") == ["new"],
            10, "the expired idempotency key to be purged",
        )  # fmt: skip
        wait_until(
            lambda: _rows(database_url, "SELECT token_hash FROM refresh_tokens") == ["new"],
            10, "the expired refresh token to be purged",
        )  # fmt: skip
        wait_until(
            lambda: _rows(database_url, "SELECT aggregate_id FROM command_ids")
            == [kept.aggregate_id],
            10, "the day-old command id to be purged",
        )  # fmt: skip


def test_a_purge_skips_its_round_while_another_process_purges(database_url: str) -> None:
    async def purge_while_locked() -> dict[str, int] | None:
        async with (
            await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row) as holder,
            await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row) as other,
        ):
            await holder.execute("SELECT pg_advisory_xact_lock(%s)", (PURGE_LOCK,))
            return await purge_expired(other)

    assert asyncio.run(purge_while_locked()) is None
