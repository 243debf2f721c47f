"""The Product aggregate's rules: details, price, stock, reservations, discontinuation."""

from __future__ import annotations

import pytest

from ledger.domain import (
    InsufficientStockError,
    Product,
    ProductNotOrderableError,
    ProductStatus,
    ValidationError,
)
from tests.unit.factories import make_product


def event_names(product: Product) -> list[str]:
    return [type(e).__name__ for e in product.collect_events()]


def test_create_sets_every_field_and_records_one_event() -> None:
    product = make_product(on_hand=5)
    assert (product.id, product.name, product.price, product.currency) == (
        "prod_t",
        "Teapot",
        2999,
        "USD",
    )
    assert (product.on_hand, product.reserved, product.available) == (5, 0, 5)
    assert product.status is ProductStatus.ACTIVE
    assert product.is_active
    assert product.tags == ["tea"]
    assert event_names(product) == ["ProductCreated"]


@pytest.mark.parametrize(("price", "on_hand"), [(-1, 0), (100, -1)])
def test_create_refuses_negative_price_or_stock(price: int, on_hand: int) -> None:
    with pytest.raises(ValidationError):
        make_product(price=price, on_hand=on_hand)


def test_create_accepts_a_free_product_with_no_stock() -> None:
    product = make_product(price=0, on_hand=0)
    assert (product.price, product.available) == (0, 0)


def test_update_details_changes_only_what_is_given() -> None:
    product = make_product()
    product.collect_events()
    product.update_details(name="Big teapot", tags=["tea", "big"], description=None)
    assert product.name == "Big teapot"
    assert product.description == "Holds tea"
    assert product.tags == ["tea", "big"]
    [updated] = product.collect_events()
    assert type(updated).__name__ == "ProductUpdated"
    # The event carries the full details after the change, so a projection can set them.
    assert updated.name == "Big teapot"  # type: ignore[attr-defined]
    assert updated.category == "kitchen"  # type: ignore[attr-defined]


def test_update_details_with_nothing_new_records_nothing() -> None:
    product = make_product()
    product.collect_events()
    product.update_details(name="Teapot", category=None)
    assert product.collect_events() == []


def test_update_details_refuses_fields_that_are_not_details() -> None:
    product = make_product()
    with pytest.raises(ValidationError, match="on_hand, price"):
        product.update_details(price=1, on_hand=99)


def test_change_price_records_old_and_new_price() -> None:
    product = make_product(price=1000)
    product.collect_events()
    product.change_price(1500)
    [changed] = product.collect_events()
    assert type(changed).__name__ == "PriceChanged"
    assert (changed.price, changed.old_price) == (1500, 1000)  # type: ignore[attr-defined]
    assert product.price == 1500


def test_change_price_to_the_same_price_records_nothing() -> None:
    product = make_product(price=1000)
    product.collect_events()
    product.change_price(1000)
    assert product.collect_events() == []


def test_change_price_refuses_a_negative_price() -> None:
    with pytest.raises(ValidationError):
        make_product().change_price(-5)


def test_receive_stock_adds_to_on_hand() -> None:
    product = make_product(on_hand=3)
    product.collect_events()
    product.adjust_stock(7, "delivery")
    [received] = product.collect_events()
    assert type(received).__name__ == "StockReceived"
    assert (received.quantity, received.on_hand, received.reserved) == (7, 10, 0)  # type: ignore[attr-defined]
    assert product.on_hand == 10


def test_adjust_stock_removes_from_on_hand() -> None:
    product = make_product(on_hand=10)
    product.collect_events()
    product.adjust_stock(-4, "breakage")
    [adjusted] = product.collect_events()
    assert type(adjusted).__name__ == "StockAdjusted"
    assert (adjusted.quantity, adjusted.reason) == (4, "breakage")  # type: ignore[attr-defined]
    assert product.on_hand == 6


def test_adjust_stock_cannot_eat_into_reservations() -> None:
    product = make_product(on_hand=10)
    product.reserve("ord_1", 8)
    with pytest.raises(InsufficientStockError) as caught:
        product.adjust_stock(-3, "breakage")
    assert caught.value.code == "INSUFFICIENT_STOCK"
    assert caught.value.details == {"product_id": "prod_t", "available": 2, "requested": 3}
    product.adjust_stock(-2, "breakage")
    assert (product.on_hand, product.reserved, product.available) == (8, 8, 0)


def test_a_stock_change_of_zero_is_refused() -> None:
    with pytest.raises(ValidationError):
        make_product().adjust_stock(0, "nothing")


def test_reserve_moves_stock_from_available_to_reserved() -> None:
    product = make_product(on_hand=5)
    product.collect_events()
    product.reserve("ord_1", 5)
    [reserved] = product.collect_events()
    assert type(reserved).__name__ == "StockReserved"
    assert (reserved.order_id, reserved.quantity, reserved.reserved) == ("ord_1", 5, 5)  # type: ignore[attr-defined]
    assert (product.on_hand, product.reserved, product.available) == (5, 5, 0)


def test_reserve_more_than_available_is_refused_and_changes_nothing() -> None:
    product = make_product(on_hand=5)
    product.reserve("ord_1", 3)
    product.collect_events()
    with pytest.raises(InsufficientStockError):
        product.reserve("ord_2", 3)
    assert product.collect_events() == []
    assert product.available == 2


@pytest.mark.parametrize("quantity", [0, -1])
def test_reserve_needs_a_positive_quantity(quantity: int) -> None:
    with pytest.raises(ValidationError):
        make_product().reserve("ord_1", quantity)


def test_release_gives_back_a_reservation() -> None:
    product = make_product(on_hand=5)
    product.reserve("ord_1", 4)
    product.collect_events()
    product.release("ord_1", 4)
    [released] = product.collect_events()
    assert type(released).__name__ == "StockReleased"
    assert (product.on_hand, product.reserved, product.available) == (5, 0, 5)


def test_release_never_makes_reserved_negative() -> None:
    product = make_product(on_hand=5)
    product.reserve("ord_1", 2)
    product.release("ord_1", 9)
    assert (product.reserved, product.available) == (0, 5)


def test_ship_turns_a_reservation_into_a_shipment() -> None:
    product = make_product(on_hand=5)
    product.reserve("ord_1", 2)
    product.collect_events()
    product.ship("ord_1", 2)
    [shipped] = product.collect_events()
    assert type(shipped).__name__ == "StockShipped"
    assert (shipped.on_hand, shipped.reserved) == (3, 0)  # type: ignore[attr-defined]
    assert (product.on_hand, product.reserved, product.available) == (3, 0, 3)


def test_ship_never_ships_more_than_is_reserved() -> None:
    product = make_product(on_hand=5)
    product.reserve("ord_1", 1)
    product.ship("ord_1", 4)
    assert (product.on_hand, product.reserved) == (4, 0)


def test_discontinued_product_cannot_be_reserved_but_keeps_its_stock() -> None:
    product = make_product(on_hand=5)
    product.reserve("ord_1", 1)
    product.discontinue()
    assert product.status is ProductStatus.DISCONTINUED
    with pytest.raises(ProductNotOrderableError) as caught:
        product.reserve("ord_2", 1)
    assert caught.value.code == "CONFLICT"
    # Orders placed before discontinuation can still be shipped or released.
    product.ship("ord_1", 1)
    assert product.on_hand == 4


def test_discontinue_twice_records_one_event() -> None:
    product = make_product()
    product.collect_events()
    product.discontinue()
    product.discontinue()
    assert event_names(product) == ["ProductDiscontinued"]


def test_events_replay_to_the_same_state() -> None:
    product = make_product(on_hand=10)
    product.update_details(name="Kettle")
    product.change_price(1234)
    product.adjust_stock(5, "delivery")
    product.adjust_stock(-2, "count")
    product.reserve("ord_1", 4)
    product.ship("ord_1", 3)
    product.release("ord_1", 1)
    product.discontinue()
    events = product.collect_events()
    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert isinstance(replayed, Product)
    assert vars(replayed) == vars(product)
