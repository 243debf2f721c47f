"""/orders: placing orders, reading them, and their lifecycle.

The lifecycle routes (confirm, process, ship, deliver, cancel, refund) are one table,
TRANSITIONS: a new transition is a row there (and its body model, if it takes a new one)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from api.consistency import Consistency, consistent_with
from api.errors import ApiError
from api.errors import ErrorCode as E
from api.query import known_query_only
from api.responses import respond
from api.routes import API_PREFIX
from api.routes.products import to_minor
from api.schemas.common import (
    Envelope,
    ListEnvelope,
    Model,
    PageMeta,
    Text,
    command_docs,
    read_responses,
)
from api.schemas.orders import (
    ConfirmIn,
    EmptyIn,
    HistoryEntryOut,
    OrderOut,
    PlaceOrderIn,
    ReasonIn,
    ShipIn,
)
from api.security import AdminUser, CurrentUser, Principal
from api.state import State
from api.writes import CommandsDep, ReadBack
from ledger.application import Ledger
from ledger.commands import ChangeOrderStatus, OrderItemRequest, PlaceOrder
from ledger.domain import OrderStatus, ShippingAddress
from reads.orders import OrderFilter, get_order, list_orders, order_history, order_owner

router = APIRouter(prefix=f"{API_PREFIX}/orders", tags=["orders"], dependencies=[known_query_only])
ORDERS = ("orders",)
# An order command answers with the order as the `orders` projection shows it.
ORDER = ReadBack(ORDERS, get_order, OrderOut.from_row)
OrdersRead = Annotated[Consistency, Depends(consistent_with(*ORDERS))]
OrderId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_:.-]+$")]
# CONFLICT: a concurrent change to the same order or product that kept winning.
_PLACE_ERRORS = (
    E.UNAUTHORIZED, E.NOT_FOUND, E.CONFLICT, E.INSUFFICIENT_STOCK, E.PRICE_CHANGED
)  # fmt: skip


@router.post(
    "",
    status_code=201,
    response_model=Envelope[OrderOut],
    **command_docs(*_PLACE_ERRORS, success=201),
)
async def place_order(body: PlaceOrderIn, user: CurrentUser, commands: CommandsDep) -> Response:
    """Place an order: prices come from the catalog and stock is reserved; status pending."""
    currency = commands.state.settings.ledger_currency
    address = body.shipping_address
    command = PlaceOrder(
        customer_id=user.user_id,
        items=tuple(
            OrderItemRequest(
                product_id=item.product_id,
                quantity=item.quantity,
                expected_price=(
                    to_minor(item.price, currency, ("body", "items", str(n), "price"))
                    if item.price is not None
                    else None
                ),
            )
            for n, item in enumerate(body.items)
        ),
        shipping_address=ShippingAddress(
            full_name=address.full_name,
            address_line1=address.address_line1,
            address_line2=address.address_line2,
            city=address.city,
            state=address.state,
            postal_code=address.postal_code,
            country=address.country.upper(),
        ),
        payment_method=body.payment_method.value,
    )
    return await commands.write_once(
        user.user_id, Ledger.place_order, command, ORDER, "Order placed", 201
    )


@router.get("", response_model=ListEnvelope[OrderOut], responses=read_responses(E.UNAUTHORIZED))
async def list_my_orders(
    user: CurrentUser,
    state: State,
    consistency: OrdersRead,
    customer_id: Annotated[Text | None, Query(max_length=64, description="Admins only")] = None,
    status: OrderStatus | None = None,
    created_from: Annotated[datetime | None, Query(alias="from")] = None,
    created_to: Annotated[datetime | None, Query(alias="to")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """Your orders, newest first; an admin sees everyone's and may filter by customer."""
    filters = OrderFilter(
        customer_id=customer_id if user.is_admin else user.user_id,
        status=status.value if status else None,
        created_from=created_from,
        created_to=created_to,
    )
    async with state.pool.connection() as conn:
        rows, total = await list_orders(conn, filters, page_size, (page - 1) * page_size)
    envelope: ListEnvelope[OrderOut] = ListEnvelope(
        message="Orders",
        data=[OrderOut.from_row(row) for row in rows],
        meta=PageMeta(page=page, page_size=page_size, total=total),
    )
    return respond(envelope, 200, consistency.headers)


async def _visible_order_owner(state: State, user: Principal, order_id: str) -> None:
    """404 unless the order exists and the caller may see it (its owner, or an admin)."""
    async with state.pool.connection() as conn:
        owner = await order_owner(conn, order_id)
    if owner is None or (owner != user.user_id and not user.is_admin):
        raise ApiError("NOT_FOUND", f"order {order_id} not found")


@router.get(
    "/{order_id}",
    response_model=Envelope[OrderOut],
    responses=read_responses(E.UNAUTHORIZED, E.NOT_FOUND),
)
async def order_detail(
    order_id: OrderId, user: CurrentUser, state: State, consistency: OrdersRead
) -> Response:
    """One order: your own, or any for an admin."""
    async with state.pool.connection() as conn:
        row = await get_order(conn, order_id)
    if row is None or (row["customer_id"] != user.user_id and not user.is_admin):
        raise ApiError("NOT_FOUND", f"order {order_id} not found")
    return respond(Envelope(message="Order", data=OrderOut.from_row(row)), 200, consistency.headers)


@router.get(
    "/{order_id}/history",
    response_model=Envelope[list[HistoryEntryOut]],
    responses=read_responses(E.UNAUTHORIZED, E.NOT_FOUND),
)
async def order_timeline(
    order_id: OrderId, user: CurrentUser, state: State, consistency: OrdersRead
) -> Response:
    """The order's status timeline, placement included, with time and actor."""
    await _visible_order_owner(state, user, order_id)
    async with state.pool.connection() as conn:
        rows = await order_history(conn, order_id)
    entries = [
        HistoryEntryOut(status=r["status"], at=r["at"], actor=r["actor"], reason=r["reason"])
        for r in rows
    ]
    return respond(Envelope(message="Order history", data=entries), 200, consistency.headers)


@dataclass(frozen=True)
class Transition:
    """A lifecycle route: POST /orders/{order_id}/<name>, answering with the order."""

    name: str  # the path segment, ChangeOrderStatus.transition, and `<name>_order` the endpoint
    summary: str  # its OpenAPI summary (and description)
    message: str
    body: type[Model]  # its fields are the command's; an optional body is its defaults
    body_required: bool = False
    # Its owner may make it too (then only on their own order); otherwise admins only.
    owner_may: bool = False


TRANSITIONS = (
    Transition(
        "cancel", "Cancel an order (its owner or an admin); its stock is released.",
        "Order cancelled", ReasonIn, owner_may=True,
    ),
    Transition(
        "confirm", "Confirm a pending order as paid (admin).",
        "Order confirmed", ConfirmIn, body_required=True,
    ),
    Transition(
        "process", "Start processing a confirmed order (admin).", "Order processing", EmptyIn
    ),
    Transition(
        "ship", "Ship an order in processing, with carrier and tracking number (admin).",
        "Order shipped", ShipIn, body_required=True,
    ),
    Transition("deliver", "Mark a shipped order delivered (admin).", "Order delivered", EmptyIn),
    Transition(
        "refund", "Refund a paid order (admin); stock not yet shipped is released.",
        "Order refunded", ReasonIn,
    ),
)  # fmt: skip


def status_command(
    transition: Transition, order_id: str, caller: Principal, body: Model | None
) -> ChangeOrderStatus:
    """The command `transition` of an order asks for (the API's and the back office's): an
    owner who is not an admin may only make it on their own order."""
    fields = (body or transition.body()).model_dump()
    owner_id = None if caller.is_admin or not transition.owner_may else caller.user_id
    return ChangeOrderStatus(
        order_id=order_id,
        transition=transition.name,
        actor=caller.user_id,
        owner_id=owner_id,
        **fields,
    )


def _transition_endpoint(transition: Transition) -> Callable[..., Awaitable[Response]]:
    """The route function of `transition`, with the signature FastAPI reads its parameters,
    body and caller from."""

    async def endpoint(
        order_id: str, caller: Principal, commands: CommandsDep, body: Model | None = None
    ) -> Response:
        command = status_command(transition, order_id, caller, body)
        return await commands.write_once(
            caller.user_id, Ledger.change_order_status, command, ORDER, transition.message
        )

    body: Any = transition.body
    parameter = inspect.Parameter.POSITIONAL_OR_KEYWORD
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("order_id", parameter, annotation=OrderId),
            inspect.Parameter(
                "caller", parameter, annotation=CurrentUser if transition.owner_may else AdminUser
            ),
            inspect.Parameter("commands", parameter, annotation=CommandsDep),
            inspect.Parameter("body", parameter, annotation=body)
            if transition.body_required
            else inspect.Parameter("body", parameter, annotation=body | None, default=None),
        ],
        return_annotation=Response,
    )
    endpoint.__name__ = endpoint.__qualname__ = f"{transition.name}_order"
    endpoint.__doc__ = transition.summary
    return endpoint


def _transition_errors(transition: Transition) -> tuple[E, ...]:
    """What a lifecycle route may answer besides invalid input: an order that is not there (or
    not the caller's), a transition its status does not allow, a concurrent change that kept
    winning; and, when only admins may make it, FORBIDDEN."""
    errors = (E.UNAUTHORIZED, E.NOT_FOUND, E.INVALID_TRANSITION, E.CONFLICT)
    return errors if transition.owner_may else (*errors, E.FORBIDDEN)


for _transition in TRANSITIONS:
    router.post(
        f"/{{order_id}}/{_transition.name}",
        response_model=Envelope[OrderOut],
        **command_docs(*_transition_errors(_transition)),
    )(_transition_endpoint(_transition))
