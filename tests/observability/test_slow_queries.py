"""Slow queries on the API's read pool: logged above LEDGER_SLOW_QUERY_MS with their duration
and statement text, never their parameters."""

from __future__ import annotations

from typing import Any

from api.state import ApiState
from ledger.slow_queries import TimedAsyncCursor
from tests.observability.conftest import LogLines, MakeClient


def _read_pool_query(client: Any, query: str, params: tuple[Any, ...]) -> type:
    """Runs `query` on the app's read pool, in the app's own event loop; returns the cursor
    class the pool's connection used."""
    state: ApiState = client.app.state.api

    async def run() -> type:
        async with state.pool.connection() as conn:
            cursor = await conn.execute(query, params)
            await cursor.fetchall()
            return type(cursor)

    result: type = client.portal.call(run)
    return result


def test_a_slow_statement_is_logged_without_its_parameters(
    make_client: MakeClient, log_lines: LogLines
) -> None:
    client = make_client(ledger_slow_query_ms=1)
    log_lines.clear()
    cursor_class = _read_pool_query(
        client, "SELECT pg_sleep(%s), %s::text AS secret", (0.05, "hunter2-parameter")
    )
    assert issubclass(cursor_class, TimedAsyncCursor)
    [slow] = [line for line in log_lines.events("slow query") if "pg_sleep" in line["query"]]
    assert slow["level"] == "warning"
    assert slow["logger"] == "ledger.db"
    assert slow["duration_ms"] >= 50
    assert slow["query"] == "SELECT pg_sleep(%s), %s::text AS secret"
    assert "hunter2-parameter" not in str(log_lines.all())


def test_statements_under_the_threshold_are_not_logged(
    make_client: MakeClient, log_lines: LogLines
) -> None:
    client = make_client(ledger_slow_query_ms=60_000)
    log_lines.clear()
    _read_pool_query(client, "SELECT pg_sleep(%s)", (0.01,))
    assert client.get("/api/v1/products").status_code == 200
    assert log_lines.events("slow query") == []


def test_a_slow_request_to_the_api_logs_its_read_queries(
    make_client: MakeClient, log_lines: LogLines
) -> None:
    client = make_client(ledger_slow_query_ms=0.001)
    log_lines.clear()
    assert client.get("/api/v1/products", params={"q": "private-term"}).status_code == 200
    slow = log_lines.events("slow query")
    assert any("FROM products" in line["query"] for line in slow), slow
    assert "private-term" not in str(log_lines.all())
