"""Command ids: a command submitted again under its id answers its first result and changes
nothing; ids are purged only once they are older than a day."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from ledger.application import Ledger
from ledger.command_log import purge_command_ids
from ledger.commands import AdjustStock, CreateProduct


def test_a_command_repeated_under_its_id_answers_its_first_result(
    ledger: Ledger, database_url: str
) -> None:
    product = ledger.create_product(
        CreateProduct(name="Mug", description="A mug", price=1000, category="mugs")
    )
    cmd = AdjustStock(product.aggregate_id, 10, "delivery", command_id="cmd-1")

    first = ledger.adjust_stock(cmd)
    again = ledger.adjust_stock(cmd)

    assert again == first
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM ledger_events WHERE originator_id = %s",
            (product.aggregate_id,),
        ).fetchone()
    assert row is not None
    assert row[0] == 2


def test_purge_keeps_a_day_of_command_ids(ledger: Ledger, database_url: str) -> None:
    ledger.create_product(
        CreateProduct(name="Mug", description="A mug", price=1000, category="mugs")
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert purge_command_ids(conn, timedelta(0)) == 0  # asked for less than a day: a day
        conn.execute("UPDATE command_ids SET committed_at = now() - interval '25 hours'")
        assert purge_command_ids(conn) == 1
