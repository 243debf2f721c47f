"""Today's code reads the store an old release wrote (issue #13: events that evolve).

tests/fixtures/store_<release>.json holds the `ledger_events` and `ledger_snapshots` rows that
release's write side produced (tests/fixtures/make_store.py tells the story and how a fixture
is made). Loaded into a fresh migrated database, the store must still project live, rebuild to
the same tables, hold what the story says, and load through today's `Ledger`: an event class
that changed shape needs an upcaster for this to keep passing."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

import projections
from ledger.application import Ledger
from ledger.commands import AdjustStock
from ledger.domain import Order, OrderStatus, Product
from reads import reports
from tests.data import make_settings
from tests.projector_process import (
    head,
    place_order,
    rebuilt_snapshot,
    report,
    snapshot,
    transition,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
STORES = sorted(FIXTURES.glob("store_*.json"))
STORY_DAY = date(2026, 1, 5)
# Every event type the domain has, by the topic's last part: the fixture must cover them all.
EVENT_TYPES = {
    "ProductCreated", "ProductUpdated", "PriceChanged", "StockReceived", "StockAdjusted",
    "StockReserved", "StockReleased", "StockShipped", "ProductDiscontinued",
    "OrderPlaced", "OrderConfirmed", "OrderProcessingStarted", "OrderShipped",
    "OrderDelivered", "OrderCancelled", "OrderRefunded", "UserRegistered", "EmailClaimed",
}  # fmt: skip


def read_fixture(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _state(data: dict[str, Any]) -> bytes:
    """The row's state as the library's JSON transcoder stores it."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def load_store(url: str, fixture: dict[str, Any]) -> None:
    """Writes the fixture's rows into the (empty, migrated) store at `url`, at their original
    positions, and moves the position sequence past them."""
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO ledger_events "
                "(notification_id, originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s, %s)",
                [
                    (
                        r["notification_id"],
                        r["originator_id"],
                        r["originator_version"],
                        r["topic"],
                        _state(r["state"]),
                    )
                    for r in fixture["ledger_events"]
                ],
            )
            cur.executemany(
                "INSERT INTO ledger_snapshots (originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s)",
                [
                    (r["originator_id"], r["originator_version"], r["topic"], _state(r["state"]))
                    for r in fixture["ledger_snapshots"]
                ],
            )
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('ledger_events', 'notification_id'), "
            "(SELECT max(notification_id) FROM ledger_events))"
        )


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


@pytest.fixture(scope="module", params=STORES, ids=[p.stem for p in STORES])
def old_store(request: pytest.FixtureRequest, make_database: Callable[[], str]) -> str:
    """A fresh database holding one fixture's store, live-projected with `catch_up`."""
    url = make_database()
    fixture = read_fixture(request.param)
    load_store(url, fixture)
    at = projections.catch_up(url)
    assert set(at) == set(projections.PROJECTIONS)
    assert all(position == len(fixture["ledger_events"]) for position in at.values()), at
    return url


def test_the_fixtures_cover_every_event_type_and_a_snapshot() -> None:
    assert STORES, "no old store under tests/fixtures"
    for path in STORES:
        fixture = read_fixture(path)
        kinds = Counter(r["topic"].rsplit(".", 1)[-1] for r in fixture["ledger_events"])
        assert set(kinds) == EVENT_TYPES, path.name
        assert fixture["ledger_snapshots"], path.name


def test_a_rebuild_equals_the_live_projection(old_store: str) -> None:
    live = snapshot(old_store)
    assert all(live.values()), {table: len(rows) for table, rows in live.items()}
    assert rebuilt_snapshot(old_store) == live


def test_the_read_tables_tell_the_story(old_store: str) -> None:
    inventory = _rows(
        old_store,
        "SELECT product_id, name, price, status, on_hand, reserved, available, received_total, "
        "adjusted_total, shipped_total FROM inventory ORDER BY product_id",
    )
    assert inventory == [
        # 5 in stock; ord_returned shipped one (its refund after shipment gives none back).
        ("prod_chair", "Product prod_chair", 12000, "discontinued", 4, 0, 4, 5, 0, 1),
        # 20 + 10 received - 3 broken - 2 shipped (ord_delivered); ord_pending holds one.
        ("prod_lamp", "Product prod_lamp", 2500, "active", 25, 1, 24, 30, 3, 2),
        # ord_delivered shipped one, ord_refunded's three were released; ord_confirmed holds 2.
        ("prod_mug", "Big Mug", 900, "active", 49, 2, 47, 50, 0, 1),
        # 104 single receipts; ord_stopped's ten released, ord_confirmed holds five.
        ("prod_pen", "Product prod_pen", 150, "active", 104, 5, 99, 104, 0, 0),
    ]
    [(tags,)] = _rows(old_store, "SELECT tags FROM products WHERE id = 'prod_mug'")
    assert tags == ["kitchen"]
    orders = _rows(old_store, "SELECT id, customer_id, status, total FROM orders ORDER BY id")
    assert orders == [
        ("ord_cancelled", "usr_0002", "cancelled", 2500),
        ("ord_confirmed", "usr_0002", "confirmed", 2 * 900 + 5 * 150),
        ("ord_delivered", "usr_0002", "delivered", 2 * 2500 + 900),
        ("ord_pending", "usr_0002", "pending", 2500),
        ("ord_refunded", "usr_0002", "refunded", 3 * 900),
        ("ord_returned", "usr_0002", "refunded", 12000),
        ("ord_stopped", "usr_0002", "cancelled", 10 * 150),
    ]
    [(delivered_steps,)] = _rows(
        old_store, "SELECT count(*) FROM order_status_history WHERE order_id = 'ord_delivered'"
    )
    assert delivered_steps == 5
    users = _rows(old_store, "SELECT id, name, email, role FROM users ORDER BY id")
    assert users == [
        ("usr_0001", "Ada Admin", "ada@example.com", "admin"),
        ("usr_0002", "Bob Buyer", "bob@example.com", "customer"),
    ]
    # Paid: delivered, refunded, returned, stopped and confirmed; returned: the refunds and the
    # cancellation after payment (ord_stopped). All on the story's one day.
    [day] = report(old_store, reports.sales, STORY_DAY, STORY_DAY, "day")
    gross = 5900 + 2700 + 12000 + 1500 + 2550
    refunds = 2700 + 12000 + 1500
    items = 3 + 3 + 1 + 10 + 7
    assert tuple(day.values()) == (STORY_DAY, 5, items, gross, refunds, gross - refunds)
    counts = report(old_store, reports.order_status_counts)
    assert {k: v for k, v in counts.items() if v} == {
        "pending": 1, "confirmed": 1, "delivered": 1, "cancelled": 2, "refunded": 2,
    }  # fmt: skip


def test_the_write_side_loads_and_extends_old_aggregates(
    make_database: Callable[[], str],
) -> None:
    for path in STORES:
        url = make_database()
        load_store(url, read_fixture(path))
        ledger = Ledger(make_settings(), url, pool_size=2)
        try:
            # prod_pen loads from its snapshot (version 100) and the eight events after it.
            [taken] = list(ledger.snapshots.get("prod_pen"))  # type: ignore[union-attr]
            assert taken.originator_version == 100
            pen = ledger.repository.get("prod_pen")
            assert isinstance(pen, Product)
            assert (pen.version, pen.on_hand, pen.reserved) == (108, 104, 5)
            lamp = ledger.repository.get("prod_lamp")
            assert isinstance(lamp, Product)
            assert (lamp.on_hand, lamp.reserved, lamp.price) == (25, 1, 2500)
            # Old aggregates take new commands.
            ledger.adjust_stock(AdjustStock("prod_lamp", -4, "recount"))
            ledger.adjust_stock(AdjustStock("prod_pen", 6, "restock"))
            for step in ("process", "ship", "deliver"):
                transition(ledger, "ord_confirmed", step)
            transition(ledger, "ord_pending", "cancel")
            place_order(ledger, "ord_new", {"prod_mug": 1, "prod_pen": 1}, customer="usr_0001")
            order = ledger.repository.get("ord_confirmed")
            assert isinstance(order, Order)
            assert order.status == OrderStatus.DELIVERED
        finally:
            ledger.close()
        projections.catch_up(url)
        stock = _rows(
            url,
            "SELECT product_id, on_hand, reserved FROM inventory "
            "WHERE product_id IN ('prod_lamp', 'prod_pen', 'prod_mug') ORDER BY product_id",
        )
        assert stock == [("prod_lamp", 21, 0), ("prod_mug", 47, 1), ("prod_pen", 105, 1)]
        statuses = _rows(
            url, "SELECT id, status FROM orders WHERE id IN ('ord_confirmed', 'ord_pending', "
            "'ord_new') ORDER BY id",
        )  # fmt: skip
        assert statuses == [
            ("ord_confirmed", "delivered"), ("ord_new", "pending"), ("ord_pending", "cancelled"),
        ]  # fmt: skip
        assert head(url) > 154
