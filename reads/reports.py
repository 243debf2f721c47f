"""The reports: sales by period, best sellers, inventory value and orders by status.

The HTTP reports and `ledger report` both run these queries, with these choices and this
default period, so the two cannot disagree."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from psycopg import sql

from ledger.choices import DEFAULT_PERIOD_DAYS
from reads import Conn


class PeriodError(ValueError):
    """The period's first day is after its last."""


def period(start: date | None, end: date | None) -> tuple[date, date]:
    """[start, end] in UTC days; by default the DEFAULT_PERIOD_DAYS days up to today (a
    missing start is that many days up to `end`)."""
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if start > end:
        raise PeriodError("the first day is after the last")
    return start, end


async def sales(conn: Conn, start: date, end: date, granularity: str) -> list[dict[str, Any]]:
    """Per period: orders paid in it (count, items, gross), payments returned in it (refunds,
    whenever the order was paid) and net = gross - refunds."""
    cursor = await conn.execute(
        """
        WITH moves AS (
            SELECT paid_on AS day, 1 AS orders, items, total AS gross, 0 AS refunds
            FROM sales_orders WHERE paid_on BETWEEN %(start)s AND %(end)s
            UNION ALL
            SELECT returned_on, 0, 0, 0, total
            FROM sales_orders WHERE returned_on BETWEEN %(start)s AND %(end)s
        )
        SELECT date_trunc(%(g)s, day::timestamp)::date AS period,
               sum(orders)::bigint AS orders, sum(items)::bigint AS items,
               sum(gross)::bigint AS gross, sum(refunds)::bigint AS refunds,
               (sum(gross) - sum(refunds))::bigint AS net
        FROM moves
        GROUP BY 1 ORDER BY 1
        """,
        {"g": granularity, "start": start, "end": end},
    )
    return await cursor.fetchall()


async def top_products(
    conn: Conn, start: date, end: date, by: str, limit: int
) -> list[dict[str, Any]]:
    """Best sellers by net revenue or net quantity: lines paid in the period, less the lines
    of orders whose payment was returned in it. Products with nothing sold net are left out."""
    order = sql.SQL(
        "revenue DESC, quantity DESC" if by == "revenue" else "quantity DESC, revenue DESC"
    )
    query = sql.SQL(
        """
        WITH moves AS (
            SELECT order_id, 1 AS sign FROM sales_orders WHERE paid_on BETWEEN %(start)s AND %(end)s
            UNION ALL
            SELECT order_id, -1 FROM sales_orders WHERE returned_on BETWEEN %(start)s AND %(end)s
        )
        SELECT l.product_id, COALESCE(p.name, l.product_id) AS name,
               sum(m.sign * l.quantity)::bigint AS quantity,
               sum(m.sign * l.subtotal)::bigint AS revenue
        FROM moves m JOIN sales_lines l ON l.order_id = m.order_id
        LEFT JOIN products p ON p.id = l.product_id
        GROUP BY l.product_id, p.name
        HAVING sum(m.sign * l.quantity) > 0 OR sum(m.sign * l.subtotal) > 0
        ORDER BY {}, l.product_id
        LIMIT %(limit)s
        """
    ).format(order)
    params = {"start": start, "end": end, "limit": limit}
    return await (await conn.execute(query, params)).fetchall()


async def inventory(
    conn: Conn, low_stock_below: int | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """The inventory rows, product ids in natural order (the contract names no order): a total,
    stable one, by the id without its trailing number, then that number as a number (prod_2
    before prod_10, no number before any), then the id itself, byte-wise."""
    cursor = await conn.execute(
        """
        SELECT product_id, name, price, currency, status, on_hand, reserved, available,
               received_total, adjusted_total, shipped_total, updated_at,
               on_hand * price AS stock_value, count(*) OVER () AS total_count
        FROM inventory
        WHERE %(low)s::bigint IS NULL OR available < %(low)s::bigint
        ORDER BY regexp_replace(product_id, '[0-9]+$', '') COLLATE "C",
                 NULLIF(substring(product_id from '[0-9]+$'), '')::numeric NULLS FIRST,
                 product_id COLLATE "C"
        LIMIT %(limit)s OFFSET %(offset)s
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
