"""Every read model holds exactly what the commands imply, after `projections.catch_up`.

The history is built once per module, in its own database, through the real write side (the
same `Ledger` the `ledger` fixture gives): the tests only read it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest

import projections
from ledger.application import Ledger
from ledger.commands import AdjustStock, DiscontinueProduct, RegisterUser, UpdateProduct
from ledger.domain import Role
from projections import store, tracking
from projections.applier import Applier
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS
from projections.sales import SalesProjection
from reads import reports
from tests.data import SHIPPING_ADDRESS, make_settings
from tests.projector_process import (
    create_product,
    place_order,
    rebuilt_snapshot,
    report,
    snapshot,
    transition,
)

DAY_ONE = date(2026, 3, 1)
DAY_TWO = date(2026, 3, 2)


def _move_event(url: str, aggregate_id: str, event_name: str, day: date) -> None:
    """Rewrites the timestamp of an aggregate's event so it falls on `day` (UTC): the sales
    model must file confirmations and refunds under the day they happened."""
    stamp = datetime(day.year, day.month, day.day, 23, 59, 30, tzinfo=UTC).isoformat()
    with psycopg.connect(url) as conn:
        updated = conn.execute(
            "UPDATE ledger_events SET state = convert_to(jsonb_set("
            "convert_from(state, 'UTF8')::jsonb, '{timestamp,_data_}', to_jsonb(%s::text)"
            ")::text, 'UTF8') WHERE originator_id = %s AND topic LIKE %s",
            (stamp, aggregate_id, f"%.{event_name}"),
        ).rowcount
    assert updated == 1


def _rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def shop(make_database: Callable[[], str]) -> Iterator[tuple[Ledger, str]]:
    url = make_database()
    settings = make_settings()
    app = Ledger(settings, url, pool_size=2)
    yield app, url
    app.close()


@pytest.fixture(scope="module")
def history(shop: tuple[Ledger, str]) -> dict[str, int]:
    """A small shop's history, brought up to date; returns each order's total."""
    ledger, database_url = shop
    ledger.register_user(
        RegisterUser(name="Ada", email=" Ada@Example.COM ", password_hash="h", role=Role.ADMIN)
    )
    create_product(ledger, "prod_a", stock=10, price=250)
    create_product(ledger, "prod_b", stock=5, price=1000)
    ledger.adjust_stock(AdjustStock("prod_a", 7, "delivery"))
    ledger.adjust_stock(AdjustStock("prod_a", -2, "breakage"))
    ledger.update_product(UpdateProduct("prod_b", name="Better B", price=1200))
    place_order(ledger, "ord_1", {"prod_a": 2, "prod_b": 1}, customer="usr_c1")
    for step in ("confirm", "process", "ship", "deliver"):
        transition(ledger, "ord_1", step)
    place_order(ledger, "ord_2", {"prod_a": 3}, customer="usr_c2")
    transition(ledger, "ord_2", "confirm")
    transition(ledger, "ord_2", "refund")
    place_order(ledger, "ord_3", {"prod_b": 1}, customer="usr_c1")
    transition(ledger, "ord_3", "cancel", actor="usr_c1")
    place_order(ledger, "ord_4", {"prod_a": 1}, customer="usr_c2")
    ledger.discontinue_product(DiscontinueProduct("prod_b"))
    _move_event(database_url, "ord_1", "OrderConfirmed", DAY_ONE)
    _move_event(database_url, "ord_2", "OrderConfirmed", DAY_ONE)
    _move_event(database_url, "ord_2", "OrderRefunded", DAY_TWO)
    projections.catch_up(database_url)
    return {"ord_1": 2 * 250 + 1200, "ord_2": 3 * 250, "ord_3": 1200, "ord_4": 250}


def test_products_hold_details_price_stock_and_status(
    history: dict[str, int], shop: tuple[Ledger, str]
) -> None:
    database_url = shop[1]
    rows = _rows(
        database_url,
        "SELECT id, name, price, tags, on_hand, reserved, available, status FROM products "
        "ORDER BY id",
    )
    assert rows == [
        # 10 + 7 - 2 received/adjusted, 2 shipped (ord_1); ord_4 holds 1; ord_2 released.
        ("prod_a", "Product prod_a", 250, ["a", "b"], 13, 1, 12, "active"),
        # 5 - 1 shipped (ord_1); ord_3 was cancelled, so nothing is reserved.
        ("prod_b", "Better B", 1200, ["a", "b"], 4, 0, 4, "discontinued"),
    ]


def test_users_hold_the_normalised_email_and_role(
    history: dict[str, int], shop: tuple[Ledger, str]
) -> None:
    database_url = shop[1]
    rows = _rows(database_url, "SELECT name, email, password_hash, role FROM users")
    assert rows == [("Ada", "ada@example.com", "h", "admin")]


def test_orders_items_and_one_history_row_per_status(
    history: dict[str, int], shop: tuple[Ledger, str]
) -> None:
    database_url = shop[1]
    orders = _rows(
        database_url,
        "SELECT id, customer_id, status, total, payment_intent_id, carrier, tracking_number, "
        "shipping_address->>'city' FROM orders ORDER BY id",
    )
    assert orders == [
        ("ord_1", "usr_c1", "delivered", history["ord_1"], "pi_test", "UPS", "1Z999", "London"),
        ("ord_2", "usr_c2", "refunded", history["ord_2"], "pi_test", None, None, "London"),
        ("ord_3", "usr_c1", "cancelled", history["ord_3"], None, None, None, SHIPPING_ADDRESS.city),
        ("ord_4", "usr_c2", "pending", history["ord_4"], None, None, None, SHIPPING_ADDRESS.city),
    ]
    items = _rows(
        database_url,
        "SELECT order_id, line_no, product_id, name, quantity, unit_price, subtotal "
        "FROM order_items ORDER BY order_id, line_no",
    )
    assert items == [
        ("ord_1", 1, "prod_a", "Product prod_a", 2, 250, 500),
        ("ord_1", 2, "prod_b", "Better B", 1, 1200, 1200),
        ("ord_2", 1, "prod_a", "Product prod_a", 3, 250, 750),
        ("ord_3", 1, "prod_b", "Better B", 1, 1200, 1200),
        ("ord_4", 1, "prod_a", "Product prod_a", 1, 250, 250),
    ]
    history_rows = _rows(
        database_url,
        "SELECT order_id, version, status, actor, reason FROM order_status_history "
        "ORDER BY order_id, version",
    )
    assert history_rows == [
        ("ord_1", 1, "pending", "usr_c1", None),
        ("ord_1", 2, "confirmed", "usr_admin", None),
        ("ord_1", 3, "processing", "usr_admin", None),
        ("ord_1", 4, "shipped", "usr_admin", None),
        ("ord_1", 5, "delivered", "usr_admin", None),
        ("ord_2", 1, "pending", "usr_c2", None),
        ("ord_2", 2, "confirmed", "usr_admin", None),
        ("ord_2", 3, "refunded", "usr_admin", "broken"),
        ("ord_3", 1, "pending", "usr_c1", None),
        ("ord_3", 2, "cancelled", "usr_c1", "changed my mind"),
        ("ord_4", 1, "pending", "usr_c2", None),
    ]
    # One history row per order event in the store.
    [(order_events,)] = _rows(
        database_url, "SELECT count(*) FROM ledger_events WHERE originator_id LIKE 'ord\\_%%'"
    )
    assert order_events == len(history_rows)


def test_inventory_explains_on_hand_by_its_movements(
    history: dict[str, int], shop: tuple[Ledger, str]
) -> None:
    database_url = shop[1]
    rows = _rows(
        database_url,
        "SELECT product_id, name, price, status, on_hand, reserved, available, received_total, "
        "adjusted_total, shipped_total FROM inventory ORDER BY product_id",
    )
    assert rows == [
        ("prod_a", "Product prod_a", 250, "active", 13, 1, 12, 17, 2, 2),
        ("prod_b", "Better B", 1200, "discontinued", 4, 0, 4, 5, 0, 1),
    ]
    for _, _, _, _, on_hand, _, _, received, adjusted, shipped in rows:
        assert on_hand == received - adjusted - shipped


def test_sales_count_confirmations_and_refunds_on_their_own_day(
    history: dict[str, int], shop: tuple[Ledger, str]
) -> None:
    database_url = shop[1]
    daily = report(database_url, reports.sales, DAY_ONE, DAY_TWO, "day")
    # Only ord_1 and ord_2 were ever confirmed (both on day one); ord_2's refund is on day two.
    # Pending (ord_4) and cancelled-before-payment (ord_3) orders are no sales.
    assert [tuple(r.values()) for r in daily] == [
        (
            DAY_ONE,
            2,
            3 + 3,
            history["ord_1"] + history["ord_2"],
            0,
            history["ord_1"] + history["ord_2"],
        ),
        (DAY_TWO, 0, 0, 0, history["ord_2"], -history["ord_2"]),
    ]
    # Day one sold ord_2's three prod_a too; over both days its refund takes them back.
    for last, prod_a in ((DAY_ONE, (5, 1250)), (DAY_TWO, (2, 500))):
        top = report(database_url, reports.top_products, DAY_ONE, last, "revenue", 10)
        assert sorted((r["product_id"], r["quantity"], r["revenue"]) for r in top) == [
            ("prod_a", *prod_a),
            ("prod_b", 1, 1200),
        ]


def test_catch_up_is_idempotent_and_equals_a_rebuild(
    history: dict[str, int], shop: tuple[Ledger, str]
) -> None:
    database_url = shop[1]
    before = snapshot(database_url)
    again = projections.catch_up(database_url)
    assert set(again) == set(projections.PROJECTIONS)
    assert snapshot(database_url) == before
    assert rebuilt_snapshot(database_url) == before


DAY_THREE = date(2026, 3, 3)


@pytest.fixture(scope="module")
def returns(make_database: Callable[[], str]) -> tuple[str, dict[str, int]]:
    """Orders paid on day one: one kept, one cancelled and one refunded on later days; and a
    pending order cancelled (it was never paid). Returns the database and the order totals."""
    url = make_database()
    ledger = Ledger(make_settings(), url, pool_size=2)
    create_product(ledger, "prod_a", stock=50, price=250)
    create_product(ledger, "prod_b", stock=50, price=1000)
    place_order(ledger, "ord_kept", {"prod_a": 1})
    place_order(ledger, "ord_cancelled", {"prod_a": 2, "prod_b": 1})
    place_order(ledger, "ord_refunded", {"prod_b": 3})
    place_order(ledger, "ord_unpaid", {"prod_a": 4})
    for order_id in ("ord_kept", "ord_cancelled", "ord_refunded"):
        transition(ledger, order_id, "confirm")
        _move_event(url, order_id, "OrderConfirmed", DAY_ONE)
    transition(ledger, "ord_cancelled", "process")
    transition(ledger, "ord_cancelled", "cancel")
    _move_event(url, "ord_cancelled", "OrderCancelled", DAY_TWO)
    transition(ledger, "ord_refunded", "refund")
    _move_event(url, "ord_refunded", "OrderRefunded", DAY_THREE)
    transition(ledger, "ord_unpaid", "cancel")
    _move_event(url, "ord_unpaid", "OrderCancelled", DAY_TWO)
    ledger.close()
    projections.catch_up(url)
    return url, {"ord_kept": 250, "ord_cancelled": 1500, "ord_refunded": 3000}


def test_returned_payments_count_as_refunds_on_the_day_they_happen(
    returns: tuple[str, dict[str, int]],
) -> None:
    url, total = returns
    rows = report(url, reports.sales, DAY_ONE, DAY_THREE, "day")
    paid = sum(total.values())
    assert [tuple(r.values()) for r in rows] == [
        # period, orders, items, gross, refunds, net: the unpaid order's cancellation is nothing.
        (DAY_ONE, 3, 1 + 3 + 3, paid, 0, paid),
        (DAY_TWO, 0, 0, 0, total["ord_cancelled"], -total["ord_cancelled"]),
        (DAY_THREE, 0, 0, 0, total["ord_refunded"], -total["ord_refunded"]),
    ]
    [month] = report(url, reports.sales, DAY_ONE, DAY_THREE, "month")
    assert (month["gross"], month["net"]) == (paid, total["ord_kept"])


def test_top_products_subtract_refunded_and_cancelled_lines(
    returns: tuple[str, dict[str, int]],
) -> None:
    url, _ = returns
    # Over the three days only the kept order's line is left; prod_b was all given back.
    for by in ("revenue", "quantity"):
        top = report(url, reports.top_products, DAY_ONE, DAY_THREE, by, 10)
        assert [(r["product_id"], r["quantity"], r["revenue"]) for r in top] == [("prod_a", 1, 250)]
    # On day one alone everything paid was sold; the returns fall on later days.
    top = report(url, reports.top_products, DAY_ONE, DAY_ONE, "quantity", 10)
    assert [(r["product_id"], r["quantity"], r["revenue"]) for r in top] == [
        ("prod_a", 3, 750),
        ("prod_b", 4, 4000),
    ][::-1]


def test_a_rebuilt_sales_projection_reports_the_same_figures(
    returns: tuple[str, dict[str, int]],
) -> None:
    url, _ = returns
    live = report(url, reports.sales, DAY_ONE, DAY_THREE, "day")
    live_top = report(url, reports.top_products, DAY_ONE, DAY_THREE, "revenue", 10)
    rebuild(url, SalesProjection())
    assert report(url, reports.sales, DAY_ONE, DAY_THREE, "day") == live
    assert report(url, reports.top_products, DAY_ONE, DAY_THREE, "revenue", 10) == live_top


PRODUCTS_POSITION = "SELECT position FROM projection_positions WHERE name = 'products'"


def test_a_step_passes_over_the_events_its_projection_does_not_read(
    make_database: Callable[[], str],
) -> None:
    """The live step decodes only the events its projection handles, and still reaches the
    store's head and counts every event it read (a backlog keeps the worker going)."""
    url = make_database()
    ledger = Ledger(make_settings(), url, pool_size=2)
    try:
        create_product(ledger, "prod_a", stock=5, price=250)
        projections.catch_up(url)
        for n in range(3):
            ledger.register_user(
                RegisterUser(name="Bo", email=f"bo{n}@example.com", password_hash="h")
            )
    finally:
        ledger.close()
    with psycopg.connect(url) as conn:
        head = store.head(conn)
        before = int(
            _rows(url, "SELECT position FROM projection_positions WHERE name = 'products'")[0][0]
        )
        done = tracking.step(conn, Applier(PROJECTIONS["products"]()), 100)
        assert (done.read, done.applied, done.position) == (
            store.count_events(conn, before, head),
            0,
            head,
        )
        assert done.read > 0
    assert _rows(url, PRODUCTS_POSITION) == [(head,)]
