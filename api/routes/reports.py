"""/reports (admin): sales, best sellers, inventory and orders by status."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.consistency import Consistency, consistent_with
from api.errors import ApiError, issue
from api.errors import ErrorCode as E
from api.query import known_query_only
from api.responses import respond
from api.routes import API_PREFIX
from api.schemas.common import Envelope, ListEnvelope, PageMeta, read_responses
from api.schemas.reports import (
    Granularity,
    InventoryRowOut,
    SalesRowOut,
    StatusCountOut,
    TopBy,
    TopProductOut,
)
from api.security import AdminUser
from api.state import State
from ledger.domain import OrderStatus, format_minor
from reads import reports

router = APIRouter(
    prefix=f"{API_PREFIX}/reports", tags=["reports"], dependencies=[known_query_only]
)
SalesRead = Annotated[Consistency, Depends(consistent_with("sales"))]
InventoryRead = Annotated[Consistency, Depends(consistent_with("inventory"))]
OrdersRead = Annotated[Consistency, Depends(consistent_with("orders"))]
_RESPONSES = read_responses(E.UNAUTHORIZED, E.FORBIDDEN)


def _period(start: date | None, end: date | None) -> tuple[date, date]:
    """[from, to] in UTC days; by default the read side's default period up to today."""
    try:
        return reports.period(start, end)
    except reports.PeriodError:
        message = "from must not be after to"
        raise ApiError("VALIDATION_ERROR", message, [issue(("query", "from"), message)]) from None


FromDate = Annotated[date | None, Query(alias="from", description="First day (UTC), inclusive")]
ToDate = Annotated[date | None, Query(alias="to", description="Last day (UTC), inclusive")]


@router.get("/sales", response_model=Envelope[list[SalesRowOut]], responses=_RESPONSES)
async def sales_report(
    _: AdminUser,
    state: State,
    consistency: SalesRead,
    start: FromDate = None,
    end: ToDate = None,
    granularity: Granularity = Granularity.DAY,
) -> Response:
    """Orders, items and gross paid per period, payments returned in it, and net."""
    first, last = _period(start, end)
    currency = state.settings.ledger_currency
    async with state.pool.connection() as conn:
        rows = await reports.sales(conn, first, last, granularity.value)
    data = [
        SalesRowOut(
            period=row["period"],
            orders=row["orders"],
            items=row["items"],
            gross=format_minor(row["gross"], currency),
            refunds=format_minor(row["refunds"], currency),
            net=format_minor(row["net"], currency),
        )
        for row in rows
    ]
    return respond(Envelope(message="Sales", data=data), 200, consistency.headers)


@router.get("/products/top", response_model=Envelope[list[TopProductOut]], responses=_RESPONSES)
async def top_products_report(
    _: AdminUser,
    state: State,
    consistency: SalesRead,
    start: FromDate = None,
    end: ToDate = None,
    by: TopBy = TopBy.REVENUE,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """Best sellers in the period, by net revenue or net quantity (returns subtracted)."""
    first, last = _period(start, end)
    currency = state.settings.ledger_currency
    async with state.pool.connection() as conn:
        rows = await reports.top_products(conn, first, last, by.value, limit)
    data = [
        TopProductOut(
            product_id=row["product_id"],
            name=row["name"],
            quantity=row["quantity"],
            revenue=format_minor(row["revenue"], currency),
        )
        for row in rows
    ]
    return respond(Envelope(message="Top products", data=data), 200, consistency.headers)


@router.get("/inventory", response_model=ListEnvelope[InventoryRowOut], responses=_RESPONSES)
async def inventory_report(
    _: AdminUser,
    state: State,
    consistency: InventoryRead,
    low_stock_below: Annotated[int | None, Query(ge=0, le=10**12)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 100,
) -> Response:
    """Per product: on hand, reserved, available and stock value; optionally only low stock."""
    async with state.pool.connection() as conn:
        rows, total = await reports.inventory(
            conn, low_stock_below, page_size, (page - 1) * page_size
        )
    data = [
        InventoryRowOut(
            product_id=row["product_id"],
            name=row["name"],
            status=row["status"],
            price=format_minor(row["price"], row["currency"]),
            currency=row["currency"],
            on_hand=row["on_hand"],
            reserved=row["reserved"],
            available=row["available"],
            stock_value=format_minor(row["stock_value"], row["currency"]),
        )
        for row in rows
    ]
    meta = PageMeta(page=page, page_size=page_size, total=total)
    return respond(
        ListEnvelope(message="Inventory", data=data, meta=meta), 200, consistency.headers
    )


@router.get("/orders/status", response_model=Envelope[list[StatusCountOut]], responses=_RESPONSES)
async def order_status_report(_: AdminUser, state: State, consistency: OrdersRead) -> Response:
    """How many orders are in each status."""
    async with state.pool.connection() as conn:
        counts = await reports.order_status_counts(conn)
    data = [StatusCountOut(status=s.value, count=counts.get(s.value, 0)) for s in OrderStatus]
    return respond(Envelope(message="Orders by status", data=data), 200, consistency.headers)
