"""The orders every write benchmark places: 2 items over the demo catalog, or one hot product
plus one other."""

from __future__ import annotations

import random

from ledger.commands import OrderItemRequest, PlaceOrder
from ledger.demo import DEMO_SIZE
from ledger.domain import ShippingAddress

HOT_PRODUCT = "prod_1"
ADDRESS = ShippingAddress(
    full_name="Bench User",
    address_line1="1 Load Street",
    city="Testville",
    state="TS",
    postal_code="12345",
    country="US",
)


def order_products(rng: random.Random, hot: bool) -> tuple[str, str]:
    """Two distinct demo products; with `hot` the first is always the hot product."""
    if hot:
        return HOT_PRODUCT, f"prod_{rng.randint(2, DEMO_SIZE)}"
    first, second = rng.sample(range(1, DEMO_SIZE + 1), 2)
    return f"prod_{first}", f"prod_{second}"


def place_order(rng: random.Random, hot: bool, customer: str) -> PlaceOrder:
    items = tuple(OrderItemRequest(p, 1) for p in order_products(rng, hot))
    return PlaceOrder(
        customer_id=customer, items=items, shipping_address=ADDRESS, payment_method="card"
    )
