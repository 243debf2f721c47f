"""Builders of domain objects for the unit tests: valid defaults, overridable per test."""

from __future__ import annotations

from ledger import contract, personal
from ledger.domain import Order, OrderLine, Product
from tests.data import SHIPPING_ADDRESS


def make_product(product_id: str = "prod_t", *, price: int = 2999, on_hand: int = 10) -> Product:
    return Product.create(
        product_id,
        name="Teapot",
        description="Holds tea",
        price=price,
        currency="USD",
        category="kitchen",
        tags=["tea"],
        images=["https://example.com/teapot.png"],
        on_hand=on_hand,
    )


# The address as an order event holds it: sealed with the customer's key (ledger.personal).
CUSTOMER_KEY = bytes(32)
SEALED_ADDRESS = contract.Sealed(
    personal.seal(CUSTOMER_KEY, "usr_c", "shipping_address", SHIPPING_ADDRESS.as_event_data())
)


def make_order(order_id: str = "ord_t", lines: list[OrderLine] | None = None) -> Order:
    return Order.place(
        order_id,
        customer_id="usr_c",
        lines=lines or [OrderLine("prod_t", "Teapot", 2, 2999)],
        currency="USD",
        shipping_address=SEALED_ADDRESS,
        payment_method="card",
    )
