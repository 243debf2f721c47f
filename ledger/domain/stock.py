"""Stock moves: what an order's placement or transition asks of each product's stock.

The Order decides which moves a transition implies (`Order.cancel` releases its reservations,
`Order.ship` ships them); the Product carries them out (`Product.move_stock`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class StockAction(StrEnum):
    """A Product method that moves an order's stock (its values are the method names)."""

    RESERVE = "reserve"
    RELEASE = "release"
    SHIP = "ship"


@dataclass(frozen=True)
class StockMove:
    action: StockAction
    product_id: str
    order_id: str
    quantity: int
