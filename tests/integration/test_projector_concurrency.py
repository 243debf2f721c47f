"""Several writers append while a real projector process follows them: at the end every event
has been applied exactly once, so the read tables agree with the store and the aggregates."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import psycopg
import pytest

from ledger.application import Ledger
from ledger.commands import AdjustStock
from ledger.domain.products import Product
from ledger.settings import Settings
from tests.processes import wait_until
from tests.projector_process import (
    caught_up,
    create_product,
    head,
    place_order,
    positions,
    projector,
    rebuilt_snapshot,
    snapshot,
    transition,
)

WRITERS = 3
ORDERS_PER_WRITER = 12
HOT_PRODUCTS = ("prod_h1", "prod_h2", "prod_h3")
# Each order takes one of these paths, so every kind of stock move and sale happens.
PATHS = (
    (),
    ("confirm",),
    ("confirm", "process", "ship"),
    ("confirm", "process", "ship", "deliver", "refund"),
    ("cancel",),
    ("confirm", "refund"),
)


def _write(settings: Settings, url: str, writer: int, errors: list[BaseException]) -> None:
    """One writer with its own Ledger (its own pool and aggregate cache), like another API
    process: orders on the same hot products as every other writer."""
    rng = random.Random(writer)
    app = Ledger(settings, url, pool_size=2)
    try:
        for n in range(ORDERS_PER_WRITER):
            order_id = f"ord_w{writer}_{n}"
            lines = rng.sample(HOT_PRODUCTS, rng.randint(1, len(HOT_PRODUCTS)))
            place_order(app, order_id, {p: rng.randint(1, 3) for p in lines})
            for step in rng.choice(PATHS):
                transition(app, order_id, step)
    except BaseException as exc:  # reported by the test, not lost in the thread
        errors.append(exc)
    finally:
        app.close()


@pytest.mark.slow
def test_concurrent_writers_and_a_projector_apply_every_event_once(
    ledger: Ledger, database_url: str, settings: Settings, tmp_path: Path
) -> None:
    url = database_url
    for product_id in HOT_PRODUCTS:
        create_product(ledger, product_id, stock=10_000)
    errors: list[BaseException] = []
    with projector(url, tmp_path, poll_seconds=0.2):
        writers = [
            threading.Thread(target=_write, args=(settings, url, w, errors)) for w in range(WRITERS)
        ]
        for thread in writers:
            thread.start()
        # Stock arrives meanwhile too, from the shared application.
        for n in range(10):
            ledger.adjust_stock(AdjustStock(HOT_PRODUCTS[n % len(HOT_PRODUCTS)], 5, "delivery"))
        for thread in writers:
            thread.join()
        assert errors == []
        wait_until(caught_up(url), timeout=60, what="the projector to catch up")
        assert set(positions(url).values()) == {head(url)}

    with psycopg.connect(url) as conn:
        reserved = conn.execute(
            "SELECT p.id, p.on_hand, p.reserved, coalesce(sum(i.quantity) FILTER ("
            "  WHERE o.status IN ('pending', 'confirmed', 'processing')), 0) "
            "FROM products p LEFT JOIN order_items i ON i.product_id = p.id "
            "LEFT JOIN orders o ON o.id = i.order_id GROUP BY p.id ORDER BY p.id"
        ).fetchall()
        [(history_rows, order_events)] = conn.execute(
            "SELECT (SELECT count(*) FROM order_status_history), "
            "(SELECT count(*) FROM ledger_events WHERE originator_id LIKE 'ord\\_%')"
        ).fetchall()
        [(gross, refunds, confirmed_totals, refunded_totals, orders)] = conn.execute(
            "SELECT (SELECT sum(total) FROM sales_orders),"
            " (SELECT sum(total) FROM sales_orders WHERE returned_on IS NOT NULL),"
            " (SELECT sum(o.total) FROM orders o JOIN order_status_history h ON h.order_id = o.id"
            "  WHERE h.status = 'confirmed'),"
            " (SELECT sum(total) FROM orders WHERE status = 'refunded'),"
            " (SELECT count(*) FROM orders)"
        ).fetchall()
    assert orders == WRITERS * ORDERS_PER_WRITER
    for product_id, on_hand, held, implied in reserved:
        assert held == implied
        aggregate: object = ledger.repository.get(product_id)
        assert isinstance(aggregate, Product)
        assert (on_hand, held) == (aggregate.on_hand, aggregate.reserved)
    assert history_rows == order_events
    assert (gross, refunds) == (confirmed_totals, refunded_totals)
    live = snapshot(url)
    assert rebuilt_snapshot(url) == live
