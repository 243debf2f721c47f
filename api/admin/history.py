"""The back office's event history: every event of one product, order or user, newest first,
read from the `history` projection (reads.history) like every other page reads its own, and
keyset paged by store position. Personal fields show as the projection keeps them: masked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from api.admin.failures import AdminRoute
from api.admin.pages import page
from api.admin.session import PATH, SignedIn
from api.routes.products import ProductId
from api.state import State
from ledger.contract import ID_SEPARATOR, ORDER_ID_PREFIX, PRODUCT_ID_PREFIX, USER_ID_PREFIX
from reads.history import stream_events

router = APIRouter(prefix=f"{PATH}/history", route_class=AdminRoute, include_in_schema=False)
PAGE_SIZE = 50


@router.get("")
async def find_stream(
    request: Request,
    state: State,
    admin: SignedIn,
    id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """A form asking for an id; with one, its history."""
    if id and id.strip():
        return RedirectResponse(f"{PATH}/history/{id.strip()}", status_code=303)
    return page(request, state, "history_find.html", admin)


@router.get("/{stream_id}")
async def history(
    stream_id: ProductId,
    request: Request,
    state: State,
    admin: SignedIn,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    async with state.pool.connection() as conn:
        events, more = await stream_events(conn, stream_id, before, PAGE_SIZE)
    return page(
        request, state, "history.html", admin, stream_id=stream_id, events=events,
        more=more, before=before, next_before=events[-1]["position"] if events else None,
        link=_link(stream_id),
    )  # fmt: skip


def _link(stream_id: str) -> str | None:
    """The page of the record itself, by its id's kind."""
    kind = stream_id.partition(ID_SEPARATOR)[0]
    section = {
        PRODUCT_ID_PREFIX: "catalog",
        ORDER_ID_PREFIX: "orders",
        USER_ID_PREFIX: "customers",
    }.get(kind)
    return f"{PATH}/{section}/{stream_id}" if section else None
