"""Commands: what a client asks the ledger to do, imperative and immutable.

Each may carry a `command_id` (the API may derive one from an Idempotency-Key); the ledger
generates one when it is absent. It is stored with the command's events, so a retry after a
lost COMMIT reply returns the first result instead of applying the command twice."""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.domain import Role, ShippingAddress


@dataclass(frozen=True)
class RegisterUser:
    name: str
    email: str
    password_hash: str
    role: Role = Role.CUSTOMER
    command_id: str | None = None


@dataclass(frozen=True)
class EraseUser:
    """Erase a person (issue #14): `erased_by` is the user id of whoever asked."""

    user_id: str
    erased_by: str
    command_id: str | None = None


@dataclass(frozen=True)
class CreateProduct:
    name: str
    description: str
    price: int
    category: str
    tags: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    stock: int = 0
    product_id: str | None = None
    command_id: str | None = None


@dataclass(frozen=True)
class UpdateProduct:
    product_id: str
    name: str | None = None
    description: str | None = None
    category: str | None = None
    tags: tuple[str, ...] | None = None
    images: tuple[str, ...] | None = None
    price: int | None = None
    command_id: str | None = None


@dataclass(frozen=True)
class AdjustStock:
    product_id: str
    delta: int
    reason: str
    command_id: str | None = None


@dataclass(frozen=True)
class DiscontinueProduct:
    product_id: str
    command_id: str | None = None


@dataclass(frozen=True)
class OrderItemRequest:
    product_id: str
    quantity: int
    expected_price: int | None = None


@dataclass(frozen=True)
class PlaceOrder:
    customer_id: str
    items: tuple[OrderItemRequest, ...]
    shipping_address: ShippingAddress
    payment_method: str
    order_id: str | None = None
    command_id: str | None = None


@dataclass(frozen=True)
class ChangeOrderStatus:
    """confirm, process, ship, deliver, cancel or refund an order."""

    order_id: str
    transition: str
    actor: str
    payment_intent_id: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    reason: str | None = None
    # When set, only this customer may make the change (a customer cancelling their order).
    owner_id: str | None = None
    command_id: str | None = None


@dataclass(frozen=True)
class CommandResult:
    """What a command did: the aggregate it is about and the store position of its last event."""

    aggregate_id: str
    position: int
    touched: tuple[str, ...] = field(default=())
