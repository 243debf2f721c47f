"""The back office's reports, the same queries as the HTTP reports (reads.reports): sales by
period, best sellers, orders by status and the inventory with its value, drawn as SVG
bar charts rendered on the server (nothing fetched, no chart library)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response

from api.admin.failures import AdminRoute
from api.admin.pages import page
from api.admin.session import PATH, SignedIn
from api.errors import ApiError
from api.state import ApiState, State
from ledger.domain import format_minor
from reads import reports

router = APIRouter(prefix=f"{PATH}/reports", route_class=AdminRoute, include_in_schema=False)
TOP_PRODUCTS = 10
INVENTORY_ROWS = 15
T = TypeVar("T")


@router.get("")
async def report_page(
    request: Request,
    state: State,
    admin: SignedIn,
    since: Annotated[date | None, Query(alias="from")] = None,
    until: Annotated[date | None, Query(alias="to")] = None,
    period: Annotated[str, Query(pattern="^(day|week|month)$")] = "day",
) -> Response:
    try:
        start, end = reports.period(since, until)
    except reports.PeriodError as exc:
        raise ApiError("VALIDATION_ERROR", str(exc)) from None
    # Four independent queries, each on its own pooled connection at once: the page takes
    # the slowest one's time, not their sum (at a million events, 360 ms in a row).
    sales, top, statuses, (stock, products) = await asyncio.gather(
        _read(state, reports.sales, start, end, period),
        _read(state, reports.top_products, start, end, "revenue", TOP_PRODUCTS),
        _read(state, reports.order_status_counts),
        _read(state, reports.inventory, None, INVENTORY_ROWS, 0),
    )
    by_status = [{"status": k, "orders": v} for k, v in sorted(statuses.items())]
    for row in sales:
        row["label"] = row["period"].isoformat()
    return page(
        request, state, "reports.html", admin, sales=sales, top=top, by_status=by_status,
        stock=stock, products=products, since=start.isoformat(), until=end.isoformat(),
        period=period, money_text=lambda minor: format_minor(minor, state.currency),
    )  # fmt: skip


async def _read(state: ApiState, query: Callable[..., Awaitable[T]], *args: Any) -> T:
    async with state.pool.connection() as conn:
        return await query(conn, *args)
