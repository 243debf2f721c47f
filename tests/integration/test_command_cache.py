"""Commands use cached aggregates without asking the store for newer events; another process's
change must still never be lost (a stale acceptance conflicts and retries) nor cause a wrong
rejection (a stale rejection is decided again on fresh state)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.application import Ledger
from ledger.commands import AdjustStock, CreateProduct, OrderItemRequest, PlaceOrder
from ledger.domain import Product
from ledger.settings import Settings
from tests.data import SHIPPING_ADDRESS


@pytest.fixture
def other(database_url: str, settings: Settings) -> Iterator[Ledger]:
    """A second Ledger with its own cache, like another API process."""
    app = Ledger(settings, database_url, pool_size=2)
    yield app
    app.close()


def _order(product_id: str, quantity: int) -> PlaceOrder:
    return PlaceOrder(
        customer_id="usr_1",
        items=(OrderItemRequest(product_id, quantity),),
        shipping_address=SHIPPING_ADDRESS,
        payment_method="card",
    )


def _warm(ledger: Ledger) -> None:
    ledger.create_product(
        CreateProduct(
            name="Pen", description="", price=100, category="c", stock=5, product_id="prod_pen"
        )
    )
    ledger.place_order(_order("prod_pen", 1))  # prod_pen is now in this ledger's cache


def test_a_rejection_made_on_a_stale_cache_is_decided_again(ledger: Ledger, other: Ledger) -> None:
    _warm(ledger)
    other.adjust_stock(AdjustStock("prod_pen", 10, "delivery"))
    # The cached copy has 4 available; the store has 14.
    ledger.place_order(_order("prod_pen", 10))
    product = other.repository.get("prod_pen")
    assert isinstance(product, Product)
    assert (product.on_hand, product.reserved) == (15, 11)


def test_an_acceptance_made_on_a_stale_cache_conflicts_and_retries(
    ledger: Ledger, other: Ledger
) -> None:
    _warm(ledger)
    other.place_order(_order("prod_pen", 2))
    ledger.place_order(_order("prod_pen", 2))
    product = other.repository.get("prod_pen")
    assert isinstance(product, Product)
    assert product.reserved == 5
