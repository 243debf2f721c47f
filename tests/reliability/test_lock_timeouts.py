"""A transaction that holds a lock cannot freeze the ledger: commands and reads waiting on it
fail within the lock timeout with a 503 envelope, and succeed once the lock is released."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest

from tests.api_steps import customer_token, login, register, sign_in_admin
from tests.data import auth, order_body, unique_email
from tests.servers import LedgerStack, StartStack, create_product, event_count

LOCK_TIMEOUT_SECONDS = 1.0
# Lock timeout, plus one wait per statement that meets the lock, plus process scheduling.
FAILS_WITHIN = 3 * LOCK_TIMEOUT_SECONDS + 1.5

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def locked_stack(start_stack: StartStack) -> Iterator[LedgerStack]:
    with start_stack(
        "locks",
        LEDGER_LOCK_TIMEOUT_SECONDS=str(LOCK_TIMEOUT_SECONDS),
        LEDGER_STATEMENT_TIMEOUT_SECONDS="3",
    ) as stack:  # fmt: skip
        yield stack


def _timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _assert_unavailable(response: httpx.Response, seconds: float) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert response.headers["Retry-After"]
    assert seconds < FAILS_WITHIN


@pytest.mark.parametrize(
    "statement",
    [
        # What the store's own writers take: blocks appends, not reads.
        "LOCK TABLE ledger_events IN EXCLUSIVE MODE",
        # What a careless migration takes: blocks reads of the store too.
        "LOCK TABLE ledger_events IN ACCESS EXCLUSIVE MODE",
    ],
)
def test_a_held_store_lock_fails_commands_fast_then_they_recover(
    locked_stack: LedgerStack, statement: str
) -> None:
    stack = locked_stack
    admin = sign_in_admin(stack)
    with stack.client(timeout=30) as client:
        product = create_product(client, admin, stock=100)
        buyer = customer_token(client)
        before = event_count(stack.database_url)
        with psycopg.connect(stack.database_url) as holder:
            holder.execute(statement)
            response, seconds = _timed(
                lambda: client.post("/orders", json=order_body(product), headers=auth(buyer))
            )
            _assert_unavailable(response, seconds)
            holder.rollback()
        assert event_count(stack.database_url) == before
        placed = client.post("/orders", json=order_body(product), headers=auth(buyer))
        assert placed.status_code == 201, placed.text


def test_a_held_row_lock_fails_a_read_side_write_fast_then_it_recovers(
    locked_stack: LedgerStack,
) -> None:
    """Refreshing a token locks its row; a stuck holder of that row must not hang the API."""
    stack = locked_stack
    with stack.client(timeout=30) as client:
        email = unique_email("lock")
        register(client, email)
        refresh = login(client, email)["refresh_token"]
        with psycopg.connect(stack.database_url) as holder:
            holder.execute("SELECT * FROM refresh_tokens FOR UPDATE")
            response, seconds = _timed(
                lambda: client.post("/auth/refresh", json={"refresh_token": refresh})
            )
            _assert_unavailable(response, seconds)
            holder.rollback()
        again = client.post("/auth/refresh", json={"refresh_token": refresh})
        assert again.status_code == 200, again.text


def test_a_held_read_table_lock_fails_reads_fast_then_they_recover(
    locked_stack: LedgerStack,
) -> None:
    stack = locked_stack
    with stack.client(timeout=30) as client:
        with psycopg.connect(stack.database_url) as holder:
            holder.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
            token = customer_token(client)
            response, seconds = _timed(lambda: client.get("/orders", headers=auth(token)))
            _assert_unavailable(response, seconds)
            holder.rollback()
        assert client.get("/orders", headers=auth(token)).status_code == 200
