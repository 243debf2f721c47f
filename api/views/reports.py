"""The reports: sales by period, best sellers, inventory value and orders by status."""

from __future__ import annotations

from datetime import date
from typing import Any

from psycopg import sql

from api.views import Conn


async def sales(conn: Conn, start: date, end: date, granularity: str) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        """
        SELECT date_trunc(%(g)s, day::timestamp)::date AS period,
               sum(orders)::bigint AS orders, sum(items)::bigint AS items,
               sum(gross)::bigint AS gross, sum(refunds)::bigint AS refunds
        FROM sales_daily
        WHERE day BETWEEN %(start)s AND %(end)s
        GROUP BY 1 ORDER BY 1
        """,
        {"g": granularity, "start": start, "end": end},
    )
    return await cursor.fetchall()


async def top_products(
    conn: Conn, start: date, end: date, by: str, limit: int
) -> list[dict[str, Any]]:
    order = sql.SQL(
        "revenue DESC, quantity DESC" if by == "revenue" else "quantity DESC, revenue DESC"
    )
    query = sql.SQL(
        """
        SELECT s.product_id, COALESCE(p.name, s.product_id) AS name,
               sum(s.quantity)::bigint AS quantity, sum(s.revenue)::bigint AS revenue
        FROM product_sales_daily s LEFT JOIN products p ON p.id = s.product_id
        WHERE s.day BETWEEN %s AND %s
        GROUP BY s.product_id, p.name
        ORDER BY {}, s.product_id
        LIMIT %s
        """
    ).format(order)
    return await (await conn.execute(query, (start, end, limit))).fetchall()


async def inventory(
    conn: Conn, low_stock_below: int | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    cursor = await conn.execute(
        """
        SELECT *, on_hand * price AS stock_value, count(*) OVER () AS total_count
        FROM inventory
        WHERE %(low)s::bigint IS NULL OR available < %(low)s::bigint
        ORDER BY product_id LIMIT %(limit)s OFFSET %(offset)s
        """,
        {"low": low_stock_below, "limit": limit, "offset": offset},
    )
    rows = await cursor.fetchall()
    if rows or offset == 0:
        return rows, int(rows[0]["total_count"]) if rows else 0
    counted = await (
        await conn.execute(
            "SELECT count(*) AS n FROM inventory "
            "WHERE %(low)s::bigint IS NULL OR available < %(low)s::bigint",
            {"low": low_stock_below},
        )
    ).fetchone()
    return [], int(counted["n"]) if counted else 0


async def order_status_counts(conn: Conn) -> dict[str, int]:
    cursor = await conn.execute("SELECT status, count(*) AS n FROM orders GROUP BY status")
    return {row["status"]: int(row["n"]) for row in await cursor.fetchall()}
