"""The Product aggregate: catalog details, price and stock.

Stock events carry the resulting `on_hand` and `reserved`, so a projection sets a row
instead of adding to it: replaying an event twice can never count stock twice."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from eventsourcing.domain import event

from ledger import contract
from ledger.domain.base import LedgerAggregate
from ledger.domain.errors import (
    InsufficientStockError,
    ProductNotOrderableError,
    ValidationError,
)
from ledger.domain.stock import StockAction, StockMove


class ProductStatus(StrEnum):
    ACTIVE = "active"
    DISCONTINUED = "discontinued"


class Product(LedgerAggregate):
    """A catalog product. Available stock (on hand - reserved) never goes below zero."""

    @event(contract.PRODUCT_CREATED.name)
    def __init__(
        self,
        id: str,
        name: str,
        description: str,
        price: int,
        currency: str,
        category: str,
        tags: list[str],
        images: list[str],
        on_hand: int,
    ) -> None:
        self.name = name
        self.description = description
        self.price = price
        self.currency = currency
        self.category = category
        self.tags = tags
        self.images = images
        self.on_hand = on_hand
        self.reserved = 0
        self.status = ProductStatus.ACTIVE

    @classmethod
    def create(
        cls,
        product_id: str,
        *,
        name: str,
        description: str,
        price: int,
        currency: str,
        category: str,
        tags: list[str],
        images: list[str],
        on_hand: int = 0,
    ) -> Product:
        """Checks the rules for a new product, then creates it."""
        _check_price(price)
        if on_hand < 0:
            raise ValidationError("initial stock cannot be negative")
        return cls(
            id=product_id,
            name=name,
            description=description,
            price=price,
            currency=currency,
            category=category,
            tags=list(tags),
            images=list(images),
            on_hand=on_hand,
        )

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def is_active(self) -> bool:
        # Equality, not identity: an aggregate loaded from a snapshot holds the plain string
        # its JSON state decoded to.
        return self.status == ProductStatus.ACTIVE

    # Commands: check, then trigger the event.

    def update_details(self, **changes: Any) -> None:
        """Changes any of name, description, category, tags, images."""
        allowed = {"name", "description", "category", "tags", "images"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValidationError(f"cannot update {', '.join(sorted(unknown))}")
        details = {key: getattr(self, key) for key in sorted(allowed)}
        details.update({key: value for key, value in changes.items() if value is not None})
        if all(details[key] == getattr(self, key) for key in allowed):
            return
        self._updated(**details)

    def change_price(self, price: int) -> None:
        _check_price(price)
        if price != self.price:
            self._price_changed(price=price, old_price=self.price)

    def adjust_stock(self, delta: int, reason: str) -> None:
        """Receives (+) or removes (-) stock; removal may not eat into reservations."""
        if delta == 0:
            raise ValidationError("a stock change of zero changes nothing")
        if delta > 0:
            self._stock_received(
                quantity=delta,
                reason=reason,
                on_hand=self.on_hand + delta,
                reserved=self.reserved,
            )
            return
        if -delta > self.available:
            raise InsufficientStockError(
                f"cannot remove {-delta} of {self.id}: only {self.available} available",
                {"product_id": self.id, "available": self.available, "requested": -delta},
            )
        self._stock_adjusted(
            quantity=-delta,
            reason=reason,
            on_hand=self.on_hand + delta,
            reserved=self.reserved,
        )

    def reserve(self, order_id: str, quantity: int) -> None:
        if not self.is_active:
            raise ProductNotOrderableError(f"product {self.id} is discontinued")
        if quantity <= 0:
            raise ValidationError("quantity must be positive")
        if quantity > self.available:
            raise InsufficientStockError(
                f"only {self.available} of {self.id} available, {quantity} requested",
                {"product_id": self.id, "available": self.available, "requested": quantity},
            )
        self._stock_reserved(
            order_id=order_id,
            quantity=quantity,
            on_hand=self.on_hand,
            reserved=self.reserved + quantity,
        )

    def release(self, order_id: str, quantity: int) -> None:
        """Gives back a reservation (order cancelled, or refunded before shipment)."""
        quantity = min(quantity, self.reserved)
        self._stock_released(
            order_id=order_id,
            quantity=quantity,
            on_hand=self.on_hand,
            reserved=self.reserved - quantity,
        )

    def ship(self, order_id: str, quantity: int) -> None:
        """Turns a reservation into a shipment: on hand and reserved both go down."""
        quantity = min(quantity, self.reserved)
        self._stock_shipped(
            order_id=order_id,
            quantity=quantity,
            on_hand=self.on_hand - quantity,
            reserved=self.reserved - quantity,
        )

    def move_stock(self, move: StockMove) -> None:
        """Carries out one of an order's stock moves on this product."""
        if move.action is StockAction.RESERVE:
            self.reserve(move.order_id, move.quantity)
        elif move.action is StockAction.RELEASE:
            self.release(move.order_id, move.quantity)
        else:
            self.ship(move.order_id, move.quantity)

    def discontinue(self) -> None:
        if self.is_active:
            self._discontinued()

    # Events: they only apply state, never check.

    @event(contract.PRODUCT_UPDATED.name)
    def _updated(
        self, name: str, description: str, category: str, tags: list[str], images: list[str]
    ) -> None:
        self.name = name
        self.description = description
        self.category = category
        self.tags = tags
        self.images = images

    @event(contract.PRICE_CHANGED.name)
    def _price_changed(self, price: int, old_price: int) -> None:
        self.price = price

    @event(contract.STOCK_RECEIVED.name)
    def _stock_received(self, quantity: int, reason: str, on_hand: int, reserved: int) -> None:
        self.on_hand = on_hand

    @event(contract.STOCK_ADJUSTED.name)
    def _stock_adjusted(self, quantity: int, reason: str, on_hand: int, reserved: int) -> None:
        self.on_hand = on_hand

    @event(contract.STOCK_RESERVED.name)
    def _stock_reserved(self, order_id: str, quantity: int, on_hand: int, reserved: int) -> None:
        self.reserved = reserved

    @event(contract.STOCK_RELEASED.name)
    def _stock_released(self, order_id: str, quantity: int, on_hand: int, reserved: int) -> None:
        self.reserved = reserved

    @event(contract.STOCK_SHIPPED.name)
    def _stock_shipped(self, order_id: str, quantity: int, on_hand: int, reserved: int) -> None:
        self.on_hand = on_hand
        self.reserved = reserved

    @event(contract.PRODUCT_DISCONTINUED.name)
    def _discontinued(self) -> None:
        self.status = ProductStatus.DISCONTINUED


def _check_price(price: int) -> None:
    if price < 0:
        raise ValidationError("price cannot be negative")
