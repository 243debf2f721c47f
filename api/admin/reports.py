"""The back office's reports, the same queries as the HTTP reports (reads.reports): sales by
period, best sellers, orders by status and the inventory with its value, drawn as SVG
bar charts rendered on the server (nothing fetched, no chart library)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.admin.failures import AdminRoute
from api.admin.pages import page
from api.admin.session import PATH, SignedIn
from api.errors import ApiError
from api.state import State
from ledger.domain import format_minor
from reads import reports

router = APIRouter(prefix=f"{PATH}/reports", route_class=AdminRoute, include_in_schema=False)
TOP_PRODUCTS = 10
INVENTORY_ROWS = 15


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
    async with state.pool.connection() as conn:
        sales = await reports.sales(conn, start, end, period)
        top = await reports.top_products(conn, start, end, "revenue", TOP_PRODUCTS)
        statuses = await reports.order_status_counts(conn)
        stock, products = await reports.inventory(conn, None, INVENTORY_ROWS, 0)
    by_status = [{"status": k, "orders": v} for k, v in sorted(statuses.items())]
    for row in sales:
        row["label"] = row["period"].isoformat()
    return page(
        request, state, "reports.html", admin, sales=sales, top=top, by_status=by_status,
        stock=stock, products=products, since=start.isoformat(), until=end.isoformat(),
        period=period, money_text=lambda minor: format_minor(minor, state.currency),
    )  # fmt: skip
