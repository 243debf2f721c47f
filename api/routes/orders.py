"""/orders: placing orders, reading them, and their lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.commands import (
    CommandsDep,
    Consistency,
    Settled,
    consistent_with,
    read_back,
    respond,
)
from api.errors import ApiError
from api.idempotency import idempotent
from api.routes import API_PREFIX
from api.routes.products import to_minor
from api.schemas.common import (
    Envelope,
    ListEnvelope,
    PageMeta,
    Text,
    command_responses,
    error_responses,
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
from ledger.application import Ledger
from ledger.commands import ChangeOrderStatus, OrderItemRequest, PlaceOrder
from ledger.domain import OrderStatus, ShippingAddress
from reads.orders import OrderFilter, get_order, list_orders, order_history, order_owner

router = APIRouter(prefix=f"{API_PREFIX}/orders", tags=["orders"])
ORDERS = ("orders",)
OrdersRead = Annotated[Consistency, Depends(consistent_with(*ORDERS))]
OrderId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_:.-]+$")]
_COMMAND_RESPONSES = command_responses(401, 403, 404, 409, 413)


async def _order_response(
    state: State, settled: Settled, message: str, status_code: int = 200
) -> Response:
    """The order as the projection shows it once the command is visible there."""
    return await read_back(state, settled, message, get_order, OrderOut.from_row, status_code)


@router.post("", status_code=201, response_model=Envelope[OrderOut], responses=_COMMAND_RESPONSES)
async def place_order(
    body: PlaceOrderIn, request: Request, user: CurrentUser, state: State, commands: CommandsDep
) -> Response:
    """Place an order: prices come from the catalog and stock is reserved; status pending."""
    currency = state.settings.ledger_currency
    address = body.shipping_address
    command = PlaceOrder(
        customer_id=user.user_id,
        items=tuple(
            OrderItemRequest(
                product_id=item.product_id,
                quantity=item.quantity,
                expected_price=(
                    to_minor(item.price, currency, f"items.{n}.price")
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
        payment_method=body.payment_method,
    )

    async def execute() -> Response:
        result = await commands.run(Ledger.place_order, command)
        settled = await commands.settle(result, ORDERS)
        return await _order_response(state, settled, "Order placed", 201)

    return await idempotent(request, state.pool, user.user_id, currency, execute)


@router.get("", response_model=ListEnvelope[OrderOut], responses=error_responses(401))
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


@router.get("/{order_id}", response_model=Envelope[OrderOut], responses=error_responses(401, 404))
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
    responses=error_responses(401, 404),
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


async def _transition(
    request: Request,
    state: State,
    commands: CommandsDep,
    user: Principal,
    command: ChangeOrderStatus,
    message: str,
) -> Response:
    async def execute() -> Response:
        result = await commands.run(Ledger.change_order_status, command)
        settled = await commands.settle(result, ORDERS)
        return await _order_response(state, settled, message)

    currency = state.settings.ledger_currency
    return await idempotent(request, state.pool, user.user_id, currency, execute)


@router.post("/{order_id}/cancel", response_model=Envelope[OrderOut], responses=_COMMAND_RESPONSES)
async def cancel_order(
    order_id: OrderId,
    request: Request,
    user: CurrentUser,
    state: State,
    commands: CommandsDep,
    body: ReasonIn | None = None,
) -> Response:
    """Cancel an order (its owner or an admin); its stock is released."""
    command = ChangeOrderStatus(
        order_id=order_id,
        transition="cancel",
        actor=user.user_id,
        reason=body.reason if body else "",
        owner_id=None if user.is_admin else user.user_id,
    )
    return await _transition(request, state, commands, user, command, "Order cancelled")


@router.post("/{order_id}/confirm", response_model=Envelope[OrderOut], responses=_COMMAND_RESPONSES)
async def confirm_order(
    order_id: OrderId,
    body: ConfirmIn,
    request: Request,
    admin: AdminUser,
    state: State,
    commands: CommandsDep,
) -> Response:
    """Confirm a pending order as paid (admin)."""
    command = ChangeOrderStatus(
        order_id=order_id,
        transition="confirm",
        actor=admin.user_id,
        payment_intent_id=body.payment_intent_id,
    )
    return await _transition(request, state, commands, admin, command, "Order confirmed")


@router.post("/{order_id}/process", response_model=Envelope[OrderOut], responses=_COMMAND_RESPONSES)
async def process_order(
    order_id: OrderId,
    request: Request,
    admin: AdminUser,
    state: State,
    commands: CommandsDep,
    body: EmptyIn | None = None,
) -> Response:
    """Start processing a confirmed order (admin)."""
    command = ChangeOrderStatus(order_id=order_id, transition="process", actor=admin.user_id)
    return await _transition(request, state, commands, admin, command, "Order processing")


@router.post("/{order_id}/ship", response_model=Envelope[OrderOut], responses=_COMMAND_RESPONSES)
async def ship_order(
    order_id: OrderId,
    body: ShipIn,
    request: Request,
    admin: AdminUser,
    state: State,
    commands: CommandsDep,
) -> Response:
    """Ship an order in processing, with carrier and tracking number (admin)."""
    command = ChangeOrderStatus(
        order_id=order_id,
        transition="ship",
        actor=admin.user_id,
        carrier=body.carrier,
        tracking_number=body.tracking_number,
    )
    return await _transition(request, state, commands, admin, command, "Order shipped")


@router.post("/{order_id}/deliver", response_model=Envelope[OrderOut], responses=_COMMAND_RESPONSES)
async def deliver_order(
    order_id: OrderId,
    request: Request,
    admin: AdminUser,
    state: State,
    commands: CommandsDep,
    body: EmptyIn | None = None,
) -> Response:
    """Mark a shipped order delivered (admin)."""
    command = ChangeOrderStatus(order_id=order_id, transition="deliver", actor=admin.user_id)
    return await _transition(request, state, commands, admin, command, "Order delivered")


@router.post("/{order_id}/refund", response_model=Envelope[OrderOut], responses=_COMMAND_RESPONSES)
async def refund_order(
    order_id: OrderId,
    request: Request,
    admin: AdminUser,
    state: State,
    commands: CommandsDep,
    body: ReasonIn | None = None,
) -> Response:
    """Refund a paid order (admin); stock not yet shipped is released."""
    command = ChangeOrderStatus(
        order_id=order_id,
        transition="refund",
        actor=admin.user_id,
        reason=body.reason if body else "",
    )
    return await _transition(request, state, commands, admin, command, "Order refunded")
