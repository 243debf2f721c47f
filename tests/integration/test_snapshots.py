"""Snapshots: an aggregate past its snapshot interval saves, reloads from the snapshot, and
keeps taking commands."""

from __future__ import annotations

import psycopg

from ledger.application import Ledger
from ledger.commands import AdjustStock, CreateProduct, OrderItemRequest, PlaceOrder
from ledger.domain import Product
from ledger.settings import Settings
from tests.data import SHIPPING_ADDRESS


def test_a_product_past_its_snapshot_interval_reloads_and_takes_orders(
    ledger: Ledger, database_url: str, settings: Settings
) -> None:
    _office_product(ledger, "prod_pen", "Pen")
    interval = Ledger.snapshotting_intervals[Product]
    for _ in range(interval + 5):
        ledger.adjust_stock(AdjustStock("prod_pen", 1, "delivery"))

    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT originator_version FROM ledger_snapshots WHERE originator_id = 'prod_pen'"
        ).fetchone()
    assert row == (interval,)

    # An explicit version bypasses the cache: snapshot plus the events after it.
    version = ledger.repository.get("prod_pen").version
    reloaded = ledger.repository.get("prod_pen", version=version)
    assert isinstance(reloaded, Product)
    assert reloaded.on_hand == 10 + interval + 5
    assert reloaded.is_active

    fresh = Ledger(settings, database_url)  # a new process: nothing cached
    try:
        fresh.place_order(
            PlaceOrder(
                customer_id="usr_1",
                items=(OrderItemRequest("prod_pen", 2),),
                shipping_address=SHIPPING_ADDRESS,
                payment_method="card",
            )
        )
        product = fresh.repository.get("prod_pen")
        assert isinstance(product, Product)
        assert product.reserved == 2
    finally:
        fresh.close()


def test_a_snapshot_taken_in_memory_is_the_one_the_store_would_give(
    ledger: Ledger, database_url: str
) -> None:
    """`Ledger._take_snapshots` snapshots the aggregate just saved instead of loading that
    version back from the store: the stored state must be the same either way."""
    _office_product(ledger, "prod_ink", "Ink")
    interval = Ledger.snapshotting_intervals[Product]
    for i in range(interval - 1):
        ledger.adjust_stock(AdjustStock("prod_ink", 1 + i % 3, "delivery"))

    def stored_state() -> dict[str, object]:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT originator_version, state FROM ledger_snapshots "
                "WHERE originator_id = 'prod_ink'"
            ).fetchone()
        assert row is not None
        assert row[0] == interval
        state = ledger.mapper.transcoder.decode(bytes(row[1]))
        assert isinstance(state, dict)
        state.pop("timestamp")
        return state

    in_memory = stored_state()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM ledger_snapshots WHERE originator_id = 'prod_ink'")
    ledger.take_snapshot("prod_ink", version=interval)  # the library's way: from the store
    assert stored_state() == in_memory


def _office_product(ledger: Ledger, product_id: str, name: str) -> None:
    ledger.create_product(
        CreateProduct(
            name=name,
            description="",
            price=100,
            category="office",
            stock=10,
            product_id=product_id,
        )
    )
