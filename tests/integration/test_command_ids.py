"""Command ids: a command submitted again under its id answers its first result and changes
nothing (their purge after a day: tests/integration/test_housekeeping.py)."""

from __future__ import annotations

import psycopg

from ledger.application import Ledger
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
