"""The back office's customers: found by id, email or name (keyset paged by email), one
customer with their latest orders, the export of everything held about them, and their
erasure, confirmed, through the API's own command."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.admin import actions, csrf, cursor, forms
from api.admin.failures import AdminRoute
from api.admin.pages import page
from api.admin.session import PATH, SignedIn
from api.errors import ApiError
from api.responses import respond_json
from api.routes.users import ERASED_VIEWS, UserId
from api.schemas.people import ExportOut
from api.state import State
from api.writes import CommandsDep
from ledger.application import Ledger
from ledger.commands import EraseUser
from reads.browse import orders_page, users_page
from reads.orders import OrderFilter
from reads.people import person
from reads.users import user_by_id

router = APIRouter(prefix=f"{PATH}/customers", route_class=AdminRoute, include_in_schema=False)
PAGE_SIZE = 50
LATEST_ORDERS = 20
# What the admin types to confirm an erasure: it cannot be undone.
ERASE_WORD = "ERASE"


@router.get("")
async def customers(
    request: Request,
    state: State,
    admin: SignedIn,
    q: Annotated[str | None, Query(max_length=320)] = None,
    after: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    key = cursor.decode(after, 1)
    async with state.pool.connection() as conn:
        found = await users_page(conn, q or None, key[0] if key else None, PAGE_SIZE)
    last = found.rows[-1] if found.rows else None
    return page(
        request, state, "customers.html", admin, users=found.rows, more=found.more,
        after=cursor.encode(last["email"]) if last else "",
        query=cursor.Links(request.query_params), q=q or "",
    )  # fmt: skip


@router.get("/{user_id}")
async def customer(user_id: UserId, request: Request, state: State, admin: SignedIn) -> Response:
    async with state.pool.connection() as conn:
        user = await user_by_id(conn, user_id)
        latest = await orders_page(conn, OrderFilter(customer_id=user_id), None, LATEST_ORDERS)
    if user is None:
        raise ApiError("NOT_FOUND", f"user {user_id} not found")
    return page(
        request, state, "customer.html", admin, user=user, orders=latest.rows,
        more=latest.more, erase_word=ERASE_WORD,
    )  # fmt: skip


@router.get("/{user_id}/export")
async def export(user_id: UserId, state: State, _: SignedIn) -> Response:
    """Everything held about the customer, as the API's export document, to download."""
    async with state.pool.connection() as conn:
        found = await person(conn, user_id)
    if found is None:
        raise ApiError("NOT_FOUND", f"user {user_id} not found")
    document = ExportOut.from_person(found).model_dump(mode="json")
    headers = {"Content-Disposition": f'attachment; filename="{user_id}.json"'}
    return respond_json(document, 200, headers)


@router.post("/{user_id}/erase", dependencies=[Depends(csrf.check_csrf)])
async def erase(
    user_id: UserId, request: Request, admin: SignedIn, commands: CommandsDep
) -> Response:
    data = await forms.fields(request)
    if data.get("confirm", "").strip() != ERASE_WORD:
        raise ApiError(
            "VALIDATION_ERROR", f"type {ERASE_WORD} to confirm the erasure: it cannot be undone",
            [{"loc": ["form", "confirm"], "msg": f"must be {ERASE_WORD}", "type": "value_error"}],
        )  # fmt: skip
    command = EraseUser(user_id=user_id, erased_by=admin.user_id)
    await actions.command(commands, Ledger.erase_user, command, ERASED_VIEWS)
    return actions.done(f"{PATH}/customers/{user_id}", "user-erased")
