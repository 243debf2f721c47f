"""The write side on real PostgreSQL: every command through `Ledger`, loaded back from the store."""

from __future__ import annotations

from typing import TypeVar

import psycopg
import pytest

from ledger import personal
from ledger.application import Ledger
from ledger.commands import (
    AdjustStock,
    ChangeOrderStatus,
    CreateProduct,
    DiscontinueProduct,
    OrderItemRequest,
    PlaceOrder,
    RegisterUser,
    UpdateProduct,
)
from ledger.domain import (
    DuplicateEmailError,
    EmailClaim,
    InsufficientStockError,
    InvalidTransitionError,
    NotFoundError,
    Order,
    OrderStatus,
    PriceChangedError,
    Product,
    ProductNotOrderableError,
    ProductStatus,
    Role,
    User,
    ValidationError,
)
from ledger.domain.base import LedgerAggregate
from ledger.domain.errors import ConflictError
from ledger.settings import Settings
from tests.data import SHIPPING_ADDRESS

A = TypeVar("A", bound=LedgerAggregate)


def create(ledger: Ledger, product_id: str, *, stock: int = 10, price: int = 2999) -> None:
    ledger.create_product(
        CreateProduct(
            name=f"Product {product_id}",
            description="d",
            price=price,
            category="books",
            tags=("a",),
            images=("https://example.com/a.png",),
            stock=stock,
            product_id=product_id,
        )
    )


def place(
    ledger: Ledger, *items: tuple[str, int], customer: str = "usr_c", **kwargs: int | None
) -> str:
    prices = kwargs
    return ledger.place_order(
        PlaceOrder(
            customer_id=customer,
            items=tuple(
                OrderItemRequest(product_id, quantity, prices.get(product_id))
                for product_id, quantity in items
            ),
            shipping_address=SHIPPING_ADDRESS,
            payment_method="card",
        )
    ).aggregate_id


def move(ledger: Ledger, order_id: str, transition: str, **fields: str) -> None:
    ledger.change_order_status(
        ChangeOrderStatus(order_id=order_id, transition=transition, actor="usr_admin", **fields)
    )


def load(ledger: Ledger, kind: type[A], aggregate_id: str) -> A:
    """An aggregate as `ledger` loads it, checked to be of `kind`."""
    aggregate: object = ledger.repository.get(aggregate_id)
    assert isinstance(aggregate, kind)
    return aggregate


def stock(ledger: Ledger, product_id: str) -> tuple[int, int, int]:
    p = load(ledger, Product, product_id)
    return p.on_hand, p.reserved, p.available


def stored_topics_of(ledger: Ledger, aggregate_id: str) -> list[str]:
    """Event names of an aggregate as the store holds them."""
    return [type(e).__name__ for e in ledger.repository.event_store.get(aggregate_id)]


def stored_topics(database_url: str, aggregate_id: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT topic FROM ledger_events WHERE originator_id = %s ORDER BY originator_version",
            (aggregate_id,),
        ).fetchall()
    return [row[0].rsplit(".", 1)[-1] for row in rows]


# Save and load every aggregate.


def test_product_round_trip(ledger: Ledger, database_url: str, settings: Settings) -> None:
    result = ledger.create_product(
        CreateProduct(name="A", description="d", price=100, category="c", stock=3)
    )
    assert result.aggregate_id.startswith("prod_")
    assert result.position >= 1
    assert result.touched == (result.aggregate_id,)
    ledger.update_product(UpdateProduct(result.aggregate_id, name="B", tags=("x",), price=150))
    ledger.adjust_stock(AdjustStock(result.aggregate_id, 4, "delivery"))
    ledger.adjust_stock(AdjustStock(result.aggregate_id, -2, "count"))
    ledger.discontinue_product(DiscontinueProduct(result.aggregate_id))
    # A new application, so nothing comes from this one's cache.
    other = Ledger(settings, database_url, pool_size=1)
    try:
        product = load(other, Product, result.aggregate_id)
    finally:
        other.close()
    assert (product.name, product.tags, product.price, product.currency) == ("B", ["x"], 150, "USD")
    assert (product.on_hand, product.reserved, product.status) == (5, 0, ProductStatus.DISCONTINUED)
    assert stored_topics(database_url, result.aggregate_id) == [
        "ProductCreated",
        "ProductUpdated",
        "PriceChanged",
        "StockReceived",
        "StockAdjusted",
        "ProductDiscontinued",
    ]


def test_order_user_and_email_claim_round_trip(
    ledger: Ledger, database_url: str, settings: Settings
) -> None:
    create(ledger, "prod_a", stock=5, price=1000)
    create(ledger, "prod_b", stock=5, price=250)
    order_id = place(ledger, ("prod_a", 2), ("prod_b", 3))
    move(ledger, order_id, "confirm", payment_intent_id="pi_1")
    user_id = ledger.register_user(
        RegisterUser(name="Ada", email=" Ada@Example.com ", password_hash="$argon2id$x")
    ).aggregate_id
    other = Ledger(settings, database_url, pool_size=1)
    try:
        order = load(other, Order, order_id)
        user = load(other, User, user_id)
        claim = load(other, EmailClaim, other.email_claim_id("ada@example.com"))
    finally:
        other.close()
    assert order.status is OrderStatus.CONFIRMED
    assert order.payment_intent_id == "pi_1"
    assert order.total == 2 * 1000 + 3 * 250
    assert [(i["product_id"], i["quantity"], i["subtotal"]) for i in order.items] == [
        ("prod_a", 2, 2000),
        ("prod_b", 3, 750),
    ]
    # Personal fields are held sealed (ledger.personal): the aggregates never need them.
    assert order.shipping_address.startswith(personal.SEALED_PREFIX)
    assert user.email.startswith(personal.SEALED_PREFIX)
    assert (user.role, user.email_claim) == (Role.CUSTOMER, claim.id)
    assert claim.user_id == user_id
    assert stored_topics(database_url, order_id) == ["OrderPlaced", "OrderConfirmed"]


def test_an_admin_can_name_a_product_once(ledger: Ledger) -> None:
    create(ledger, "prod_1")
    with pytest.raises(ConflictError, match="already exists"):
        create(ledger, "prod_1")


@pytest.mark.parametrize("product_id", ["item_1", "prod_" + "x" * 60])
def test_product_ids_must_look_like_product_ids(ledger: Ledger, product_id: str) -> None:
    with pytest.raises(ValidationError):
        create(ledger, product_id)


def test_commands_on_unknown_aggregates_are_not_found(ledger: Ledger) -> None:
    with pytest.raises(NotFoundError, match="product prod_nope"):
        ledger.adjust_stock(AdjustStock("prod_nope", 1, "x"))
    with pytest.raises(NotFoundError, match="order ord_nope"):
        move(ledger, "ord_nope", "cancel")
    with pytest.raises(NotFoundError, match="order ord_nope"):
        move(ledger, "ord_nope", "ship", carrier="UPS", tracking_number="1")


def test_an_id_of_another_kind_is_not_found(ledger: Ledger) -> None:
    create(ledger, "prod_a")
    with pytest.raises(NotFoundError, match="order prod_a"):
        move(ledger, "prod_a", "cancel")


# Users.


def test_duplicate_email_is_refused_whatever_its_case(ledger: Ledger) -> None:
    ledger.register_user(RegisterUser(name="A", email="ada@example.com", password_hash="h"))
    with pytest.raises(DuplicateEmailError) as caught:
        ledger.register_user(RegisterUser(name="B", email="ADA@example.COM ", password_hash="h"))
    assert caught.value.code == "CONFLICT"


# Orders: prices, stock and the lifecycle.


def test_the_charged_price_is_always_the_catalogs(ledger: Ledger) -> None:
    create(ledger, "prod_a", price=2999)
    ledger.update_product(UpdateProduct("prod_a", price=3499))
    with pytest.raises(PriceChangedError) as caught:
        place(ledger, ("prod_a", 1), prod_a=2999)
    assert caught.value.code == "PRICE_CHANGED"
    assert caught.value.details == {"product_id": "prod_a", "expected": 2999, "current": 3499}
    assert stock(ledger, "prod_a") == (10, 0, 10)
    order_id = place(ledger, ("prod_a", 2), prod_a=3499)
    order = load(ledger, Order, order_id)
    assert order.items[0]["unit_price"] == 3499
    assert order.total == 6998
    # Without an expected price the catalog's is taken as is.
    order_id = place(ledger, ("prod_a", 1))
    assert load(ledger, Order, order_id).total == 3499


def test_placing_reserves_and_a_failed_order_leaves_no_reservation(ledger: Ledger) -> None:
    create(ledger, "prod_a", stock=5)
    create(ledger, "prod_b", stock=1)
    place(ledger, ("prod_a", 2))
    assert stock(ledger, "prod_a") == (5, 2, 3)
    with pytest.raises(InsufficientStockError) as caught:
        place(ledger, ("prod_a", 1), ("prod_b", 2))
    assert caught.value.code == "INSUFFICIENT_STOCK"
    with pytest.raises(NotFoundError):
        place(ledger, ("prod_a", 1), ("prod_unknown", 1))
    assert stock(ledger, "prod_a") == (5, 2, 3)
    assert stock(ledger, "prod_b") == (1, 0, 1)


def test_an_order_names_each_product_once(ledger: Ledger) -> None:
    create(ledger, "prod_a")
    with pytest.raises(ValidationError, match="only once"):
        place(ledger, ("prod_a", 1), ("prod_a", 1))


def test_discontinued_products_cannot_be_ordered(ledger: Ledger) -> None:
    create(ledger, "prod_a")
    ledger.discontinue_product(DiscontinueProduct("prod_a"))
    with pytest.raises(ProductNotOrderableError):
        place(ledger, ("prod_a", 1))


def test_removing_stock_cannot_eat_into_reservations(ledger: Ledger) -> None:
    create(ledger, "prod_a", stock=5)
    place(ledger, ("prod_a", 4))
    with pytest.raises(InsufficientStockError):
        ledger.adjust_stock(AdjustStock("prod_a", -2, "count"))
    ledger.adjust_stock(AdjustStock("prod_a", -1, "count"))
    assert stock(ledger, "prod_a") == (4, 4, 0)


def test_cancel_releases_the_stock(ledger: Ledger) -> None:
    create(ledger, "prod_a", stock=5)
    create(ledger, "prod_b", stock=5)
    order_id = place(ledger, ("prod_a", 2), ("prod_b", 1))
    move(ledger, order_id, "confirm", payment_intent_id="pi_1")
    move(ledger, order_id, "cancel", reason="changed my mind")
    assert stock(ledger, "prod_a") == (5, 0, 5)
    assert stock(ledger, "prod_b") == (5, 0, 5)
    assert stored_topics_of(ledger, order_id)[-1] == "OrderCancelled"


def test_the_full_lifecycle_ships_the_reservation(ledger: Ledger) -> None:
    create(ledger, "prod_a", stock=5)
    order_id = place(ledger, ("prod_a", 2))
    move(ledger, order_id, "confirm", payment_intent_id="pi_1")
    move(ledger, order_id, "process")
    assert stock(ledger, "prod_a") == (5, 2, 3)
    move(ledger, order_id, "ship", carrier="UPS", tracking_number="1Z")
    assert stock(ledger, "prod_a") == (3, 0, 3)
    move(ledger, order_id, "deliver")
    order = load(ledger, Order, order_id)
    assert (order.status, order.carrier, order.tracking_number) == (
        OrderStatus.DELIVERED,
        "UPS",
        "1Z",
    )


def test_refund_before_shipment_releases_the_stock(ledger: Ledger) -> None:
    create(ledger, "prod_a", stock=5)
    order_id = place(ledger, ("prod_a", 2))
    move(ledger, order_id, "confirm", payment_intent_id="pi_1")
    move(ledger, order_id, "refund", reason="duplicate")
    assert stock(ledger, "prod_a") == (5, 0, 5)
    assert load(ledger, Order, order_id).status is OrderStatus.REFUNDED


@pytest.mark.parametrize("last", ["ship", "deliver"])
def test_refund_after_shipment_leaves_the_stock_shipped(ledger: Ledger, last: str) -> None:
    create(ledger, "prod_a", stock=5)
    order_id = place(ledger, ("prod_a", 2))
    move(ledger, order_id, "confirm", payment_intent_id="pi_1")
    move(ledger, order_id, "process")
    move(ledger, order_id, "ship", carrier="UPS", tracking_number="1Z")
    if last == "deliver":
        move(ledger, order_id, "deliver")
    before = stored_topics_of(ledger, "prod_a")
    move(ledger, order_id, "refund", reason="broken")
    assert stock(ledger, "prod_a") == (3, 0, 3)
    assert stored_topics_of(ledger, "prod_a") == before


def test_disallowed_transitions_are_refused_and_change_nothing(ledger: Ledger) -> None:
    create(ledger, "prod_a", stock=5)
    order_id = place(ledger, ("prod_a", 2))
    move(ledger, order_id, "cancel")
    for transition, fields in [
        ("cancel", {}),
        ("refund", {}),
        ("confirm", {"payment_intent_id": "pi_1"}),
        ("ship", {"carrier": "UPS", "tracking_number": "1Z"}),
    ]:
        with pytest.raises(InvalidTransitionError):
            move(ledger, order_id, transition, **fields)
    # Cancelling twice must not release the stock twice.
    assert stock(ledger, "prod_a") == (5, 0, 5)


@pytest.mark.parametrize(
    ("transition", "missing"),
    [("confirm", "payment_intent_id"), ("ship", "carrier"), ("teleport", "unknown transition")],
)
def test_transitions_need_their_fields(ledger: Ledger, transition: str, missing: str) -> None:
    create(ledger, "prod_a", stock=5)
    order_id = place(ledger, ("prod_a", 1))
    move(ledger, order_id, "confirm", payment_intent_id="pi_1")
    move(ledger, order_id, "process")
    with pytest.raises(ValidationError, match=missing):
        move(ledger, order_id, transition, tracking_number="1Z")


def test_a_customer_cannot_change_another_customers_order(ledger: Ledger) -> None:
    create(ledger, "prod_a", stock=5)
    order_id = place(ledger, ("prod_a", 2), customer="usr_owner")
    with pytest.raises(NotFoundError):
        ledger.change_order_status(
            ChangeOrderStatus(order_id, "cancel", actor="usr_other", owner_id="usr_other")
        )
    assert stock(ledger, "prod_a") == (5, 2, 3)
    ledger.change_order_status(
        ChangeOrderStatus(order_id, "cancel", actor="usr_owner", owner_id="usr_owner")
    )
    assert stock(ledger, "prod_a") == (5, 0, 5)
