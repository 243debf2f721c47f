"""The back office's orders: searched by status, customer and date (newest first, keyset
paged), one order with its items and status history, and every lifecycle step the order's
status allows, each through the API's own command."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.admin import actions, csrf, cursor, forms
from api.admin.failures import AdminRoute
from api.admin.pages import page
from api.admin.session import PATH, SignedIn
from api.errors import ApiError
from api.routes.orders import ORDERS, TRANSITIONS, OrderId, Transition, status_command
from api.security import Principal
from api.state import State
from api.writes import CommandsDep
from ledger.application import Ledger
from ledger.domain import OrderStatus, Role
from ledger.domain.orders import ALLOWED
from reads.browse import orders_page
from reads.orders import OrderFilter, get_order, order_history

router = APIRouter(prefix=f"{PATH}/orders", route_class=AdminRoute, include_in_schema=False)
PAGE_SIZE = 50
BY_NAME: dict[str, Transition] = {t.name: t for t in TRANSITIONS}
STATUS_PATTERN = "^(" + "|".join(s.value for s in OrderStatus) + ")?$"


def _day_start(day: date | None) -> datetime | None:
    return datetime.combine(day, time(), UTC) if day else None


@router.get("")
async def orders(
    request: Request,
    state: State,
    admin: SignedIn,
    status: Annotated[str | None, Query(pattern=STATUS_PATTERN)] = None,
    customer: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[date | None, Query(alias="from")] = None,
    until: Annotated[date | None, Query(alias="to")] = None,
    after: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    """Orders matching the filters; `to` is the last day shown, whole."""
    key = cursor.decode(after, 2)
    filters = OrderFilter(
        customer_id=customer or None,
        status=status or None,
        created_from=_day_start(since),
        created_to=_day_start(until + timedelta(days=1)) if until else None,
    )
    start = (datetime.fromisoformat(key[0]), key[1]) if key else None
    async with state.pool.connection() as conn:
        found = await orders_page(conn, filters, start, PAGE_SIZE)
    last = found.rows[-1] if found.rows else None
    return page(
        request, state, "orders.html", admin, orders=found.rows, more=found.more,
        after=cursor.encode(last["created_at"], last["id"]) if last else "",
        query=cursor.Links(request.query_params), statuses=[s.value for s in OrderStatus],
        status=status or "", customer=customer or "",
        since=since.isoformat() if since else "", until=until.isoformat() if until else "",
    )  # fmt: skip


@router.get("/{order_id}")
async def order(order_id: OrderId, request: Request, state: State, admin: SignedIn) -> Response:
    async with state.pool.connection() as conn:
        row = await get_order(conn, order_id)
        history = await order_history(conn, order_id) if row else []
    if row is None:
        raise ApiError("NOT_FOUND", f"order {order_id} not found")
    steps = [t for t in TRANSITIONS if row["status"] in ALLOWED[t.name]]
    return page(
        request, state, "order.html", admin, order=row, history=history,
        steps=[(t, _form_fields(t)) for t in steps],
    )  # fmt: skip


def _form_fields(transition: Transition) -> list[tuple[str, bool]]:
    """The inputs a step's form asks for: the API body's fields, and whether each is needed."""
    return [(name, f.is_required()) for name, f in transition.body.model_fields.items()]


@router.post("/{order_id}/{step}", dependencies=[Depends(csrf.check_csrf)])
async def change_status(
    order_id: OrderId, step: str, request: Request, admin: SignedIn, commands: CommandsDep
) -> Response:
    transition = BY_NAME.get(step)
    if transition is None:
        raise ApiError("NOT_FOUND", f"there is no order step {step!r}")
    data = await forms.fields(request)
    body = forms.parse(transition.body, {k: data.get(k, "") for k in transition.body.model_fields})
    caller = Principal(user_id=admin.user_id, role=Role.ADMIN)
    command = status_command(transition, order_id, caller, body)
    await actions.command(commands, Ledger.change_order_status, command, ORDERS)
    return actions.done(f"{PATH}/orders/{order_id}", f"order-{transition.name}")
