"""Checkout: the place-order decision. Prices each line from the catalog (refusing a line whose
client saw another price), reserves its stock on the product and creates the order.

Written once here for the application (`ledger.use_cases.place_order`) and the benchmarks
(bench/fill.py, bench/baselines/plain.py), which drive the same decision without the command
runner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from ledger import contract
from ledger.domain.errors import PriceChangedError
from ledger.domain.orders import Order, OrderLine
from ledger.domain.products import Product


class CartItem(Protocol):
    """One requested line (`ledger.commands.OrderItemRequest` is one)."""

    @property
    def product_id(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def expected_price(self) -> int | None: ...


def checkout(
    order_id: str,
    *,
    customer_id: str,
    items: Sequence[CartItem],
    load: Callable[[str], Product],
    currency: str,
    shipping_address: contract.Sealed,
    payment_method: str,
) -> tuple[Order, list[Product]]:
    """The new order and the products it reserved on, in the order of `items`. Each product is
    loaded (`load`), checked and reserved before the next is loaded."""
    products: list[Product] = []
    lines: list[OrderLine] = []
    for item in items:
        product = load(item.product_id)
        if item.expected_price is not None and item.expected_price != product.price:
            raise PriceChangedError(
                f"the price of {product.id} has changed",
                {
                    "product_id": product.id,
                    "expected": item.expected_price,
                    "current": product.price,
                },
            )
        product.reserve(order_id, item.quantity)
        products.append(product)
        lines.append(OrderLine(product.id, product.name, item.quantity, product.price))
    order = Order.place(
        order_id,
        customer_id=customer_id,
        lines=lines,
        currency=currency,
        shipping_address=shipping_address,
        payment_method=payment_method,
    )
    return order, products
