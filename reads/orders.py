"""Orders, their items and their status history, as the `orders` projection keeps them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from reads import Conn, where

# Every column by name, never `o.*`: a query's result type is the code's, not the table's, so
# a migration that adds a column, or a rebuild's swap to a new relation, cannot change the
# shape of a statement a pooled connection prepared before it (docs/architecture.md, Read side).
ORDER_COLUMNS = """
    o.id, o.customer_id, o.status, o.total, o.currency, o.shipping_address, o.payment_method,
    o.payment_intent_id, o.carrier, o.tracking_number, o.created_at, o.updated_at,
    COALESCE((
        SELECT json_agg(json_build_object(
            'product_id', i.product_id, 'name', i.name, 'quantity', i.quantity,
            'unit_price', i.unit_price, 'subtotal', i.subtotal) ORDER BY i.line_no)
        FROM order_items i WHERE i.order_id = o.id), '[]'::json) AS items
"""


@dataclass(frozen=True)
class OrderFilter:
    customer_id: str | None = None
    status: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


async def get_order(conn: Conn, order_id: str) -> dict[str, Any] | None:
    query = f"SELECT {ORDER_COLUMNS} FROM orders o WHERE o.id = %s"  # noqa: S608 - fixed text  # nosec B608
    return await (await conn.execute(query, (order_id,))).fetchone()


async def list_orders(
    conn: Conn, filters: OrderFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Orders matching `filters`, newest first, one page, and how many match in all."""
    condition, params = where(
        [],
        {
            "o.customer_id = %s": filters.customer_id,
            "o.status = %s": filters.status,
            "o.created_at >= %s": filters.created_from,
            "o.created_at <= %s": filters.created_to,
        },
    )
    count_query = sql.SQL("SELECT count(*) AS n FROM orders o WHERE {}").format(condition)
    counted = await (await conn.execute(count_query, params)).fetchone()
    total = int(counted["n"]) if counted else 0
    if total <= offset:
        return [], total
    page_query = sql.SQL(
        "SELECT {} FROM orders o WHERE {} ORDER BY o.created_at DESC, o.id DESC LIMIT %s OFFSET %s"
    ).format(sql.SQL(ORDER_COLUMNS), condition)
    rows = await (await conn.execute(page_query, [*params, limit, offset])).fetchall()
    return rows, total


async def order_owner(conn: Conn, order_id: str) -> str | None:
    row = await (
        await conn.execute("SELECT customer_id FROM orders WHERE id = %s", (order_id,))
    ).fetchone()
    return row["customer_id"] if row else None


async def order_history(conn: Conn, order_id: str) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        "SELECT status, at, actor, reason FROM order_status_history "
        "WHERE order_id = %s ORDER BY version",
        (order_id,),
    )
    return await cursor.fetchall()
