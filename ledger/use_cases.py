"""The write side's use cases: each loads its aggregates through the unit of work, lets them
decide, and saves what they changed. How a use case is run (locks, retries, the cache, group
commit, command ids) is the command runner's (ledger.runner); which locks a command takes is
here, beside the use case, since it depends on what the command touches."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

from ledger import contract
from ledger.commands import (
    AdjustStock,
    ChangeOrderStatus,
    CreateProduct,
    DiscontinueProduct,
    EraseUser,
    PlaceOrder,
    RegisterUser,
    UpdateProduct,
)
from ledger.domain import (
    EmailClaim,
    NotFoundError,
    Order,
    Product,
    StockMove,
    User,
    ValidationError,
    checkout,
)
from ledger.domain.errors import DomainError
from ledger.domain.orders import stock_action
from ledger.unit_of_work import UnitOfWork

# A user's personal fields, sealed (ledger.personal), by name.
Sealed = Mapping[str, contract.Sealed]
# What a chosen product id must start with.
PRODUCT_ID_PATTERN = contract.PRODUCT_ID_PREFIX + contract.ID_SEPARATOR


def new_id(prefix: str) -> str:
    """A fresh id of the kind `prefix` names (one of ledger.contract's id prefixes)."""
    return f"{prefix}{contract.ID_SEPARATOR}{uuid.uuid4().hex}"


# Users.


def register_user(
    uow: UnitOfWork, cmd: RegisterUser, user_id: str, sealed: Sealed, claim_id: str
) -> None:
    """Creates a user (their personal fields `sealed`) and claims their email, or claims it
    again when an erased user had released it, in the same transaction."""
    user = User(
        id=user_id,
        name=sealed["name"],
        email=sealed["email"],
        password_hash=sealed["password_hash"],
        role=cmd.role,
        email_claim=claim_id,
    )
    try:
        claim = uow.get(EmailClaim, claim_id)
    except NotFoundError:
        uow.save(user, EmailClaim(id=claim_id, user_id=user.id))
        return
    claim.reclaim(user.id)
    uow.save(user, claim)


def erase_user(uow: UnitOfWork, cmd: EraseUser, claim_id: str) -> None:
    """Records the erasure and releases the user's email claim."""
    user = uow.get(User, cmd.user_id)
    user.erase(cmd.erased_by)
    try:
        claim = uow.get(EmailClaim, claim_id)
    except NotFoundError:  # a store that lost it: nothing holds the email
        uow.save(user)
        return
    if claim.user_id == user.id:
        claim.release()
    uow.save(user, claim)


# Products.


def product_id_for(cmd: CreateProduct) -> str:
    product_id = cmd.product_id or new_id(contract.PRODUCT_ID_PREFIX)
    if not product_id.startswith(PRODUCT_ID_PATTERN) or len(product_id) > 64:
        raise ValidationError(
            f"a product id starts with {PRODUCT_ID_PATTERN} and has at most 64 characters"
        )
    return product_id


def create_product(uow: UnitOfWork, cmd: CreateProduct, product_id: str, currency: str) -> None:
    product = Product.create(
        product_id,
        name=cmd.name,
        description=cmd.description,
        price=cmd.price,
        currency=currency,
        category=cmd.category,
        tags=list(cmd.tags),
        images=list(cmd.images),
        on_hand=cmd.stock,
    )
    uow.save(product)


def update_product(uow: UnitOfWork, cmd: UpdateProduct) -> None:
    product = uow.get(Product, cmd.product_id)
    product.update_details(
        name=cmd.name,
        description=cmd.description,
        category=cmd.category,
        tags=list(cmd.tags) if cmd.tags is not None else None,
        images=list(cmd.images) if cmd.images is not None else None,
    )
    if cmd.price is not None:
        product.change_price(cmd.price)
    uow.save(product)


def adjust_stock(uow: UnitOfWork, cmd: AdjustStock) -> None:
    product = uow.get(Product, cmd.product_id)
    product.adjust_stock(cmd.delta, cmd.reason)
    uow.save(product)


def discontinue_product(uow: UnitOfWork, cmd: DiscontinueProduct) -> None:
    product = uow.get(Product, cmd.product_id)
    product.discontinue()
    uow.save(product)


# Orders.


def order_locks(cmd: PlaceOrder) -> list[str]:
    """The products an order reserves on, each at most once."""
    product_ids = [item.product_id for item in cmd.items]
    if len(set(product_ids)) != len(product_ids):
        raise ValidationError("each product may appear only once in an order")
    return product_ids


def place_order(
    uow: UnitOfWork, cmd: PlaceOrder, order_id: str, currency: str, address: contract.Sealed
) -> None:
    """Prices every line from the catalog, reserves stock on each product and creates the
    order (ledger.domain.checkout), its shipping `address` sealed."""
    order, products = checkout(
        order_id,
        customer_id=cmd.customer_id,
        items=cmd.items,
        load=lambda product_id: uow.get(Product, product_id),
        currency=currency,
        shipping_address=address,
        payment_method=cmd.payment_method,
    )
    uow.save(order, *products)


# Each transition's Order method, called with the command's arguments.
TRANSITIONS: dict[str, Callable[[Order, ChangeOrderStatus], list[StockMove]]] = {
    "confirm": lambda o, c: o.confirm(_required(c.payment_intent_id, "payment_intent_id"), c.actor),
    "process": lambda o, c: o.process(c.actor),
    "ship": lambda o, c: o.ship(
        _required(c.carrier, "carrier"), _required(c.tracking_number, "tracking_number"), c.actor
    ),
    "deliver": lambda o, c: o.deliver(c.actor),
    "cancel": lambda o, c: o.cancel(c.reason or "", c.actor),
    "refund": lambda o, c: o.refund(c.reason or "", c.actor),
}


def transition_locks(uow: UnitOfWork, cmd: ChangeOrderStatus) -> list[str]:
    """The order, and the products of its lines when the transition may move their stock.
    Reads the order into `uow`, which then decides with it (the order is loaded once)."""
    if stock_action(cmd.transition, held=True) is None:
        return [cmd.order_id]
    try:
        return [cmd.order_id, *(line.product_id for line in uow.get(Order, cmd.order_id).lines)]
    except DomainError:
        return [cmd.order_id]


def change_order_status(uow: UnitOfWork, cmd: ChangeOrderStatus) -> None:
    """confirm, process, ship, deliver, cancel or refund; moves the stock it implies."""
    order = uow.get(Order, cmd.order_id)
    if cmd.owner_id is not None and order.customer_id != cmd.owner_id:
        raise NotFoundError(f"order {cmd.order_id} not found")
    transition = TRANSITIONS.get(cmd.transition)
    if transition is None:
        raise ValidationError(f"unknown transition {cmd.transition!r}")
    products = []
    for move in transition(order, cmd):
        product = uow.get(Product, move.product_id)
        product.move_stock(move)
        products.append(product)
    uow.save(order, *products)


def _required(value: str | None, name: str) -> str:
    if not value:
        raise ValidationError(f"{name} is required")
    return value
