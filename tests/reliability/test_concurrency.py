"""Races over HTTP: a hot product sells exactly its stock to hundreds of concurrent buyers, and
concurrent registrations of one email make one account."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import psycopg
import pytest

from api.security import create_access_token
from tests.api_steps import sign_in_admin
from tests.data import PASSWORD, auth, make_settings, order_body, unique_email
from tests.processes import wait_until
from tests.projector_process import caught_up
from tests.servers import LedgerStack, StartStack, create_product

BUYERS = 300
STOCK = 120
THREADS = 32
REGISTRATIONS = 16
# Few products, each order two of them: demand (2 x BUYERS / SPREAD) outruns each one's stock.
SPREAD = 6
SPREAD_STOCK = 40

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(start_stack: StartStack) -> Iterator[LedgerStack]:
    with start_stack("races") as running:
        yield running


@contextmanager
def clients_per_thread(stack: LedgerStack) -> Iterator[Callable[[], httpx.Client]]:
    """The calling thread's own client: one client shared by 32 threads once failed a request
    on the client's side (ReadError, a bad file descriptor), the server never seeing it."""
    local = threading.local()
    made: list[httpx.Client] = []
    lock = threading.Lock()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = stack.client(timeout=60)
            with lock:
                made.append(local.client)
        return local.client  # type: ignore[no-any-return]

    try:
        yield client
    finally:
        for each in made:
            each.close()


def test_a_hot_product_sells_exactly_its_stock(stack: LedgerStack) -> None:
    admin = sign_in_admin(stack)
    with stack.client(timeout=60) as client:
        product = create_product(client, admin, stock=STOCK)
    # Each buyer its own customer, signed as the API signs (300 argon2 sign-ins would only
    # measure the password hash).
    settings = make_settings()
    tokens = [create_access_token(settings, f"usr_buyer{n}", "customer")[0] for n in range(BUYERS)]
    with clients_per_thread(stack) as client:

        def buy(token: str) -> tuple[int, str | None]:
            headers = {**auth(token), "Prefer": "respond-async"}
            response = client().post("/orders", json=order_body(product), headers=headers)
            body = response.json()
            return response.status_code, None if body["success"] else body["error"]["code"]

        with ThreadPoolExecutor(THREADS) as pool:
            outcomes = Counter(pool.map(buy, tokens))

    sold = outcomes[(202, None)] + outcomes[(201, None)]
    assert sold == STOCK, outcomes
    assert outcomes[(409, "INSUFFICIENT_STOCK")] == BUYERS - STOCK, outcomes
    with psycopg.connect(stack.database_url) as conn:
        reserved = conn.execute(
            "SELECT count(*) FROM ledger_events WHERE originator_id = %s AND topic LIKE %s",
            (product, "%.StockReserved"),
        ).fetchone()
        placed = conn.execute(
            "SELECT count(*) FROM ledger_events WHERE topic LIKE %s", ("%.OrderPlaced",)
        ).fetchone()
    assert reserved == (STOCK,)
    assert placed == (STOCK,)
    wait_until(caught_up(stack.database_url, ["products"]), 30, "the catalog to catch up")
    with stack.client(timeout=30) as client:
        after = client.get(f"/products/{product}").json()
    data = after["data"]
    assert (data["on_hand"], data["reserved"], data["available"]) == (STOCK, STOCK, 0)


def test_orders_spread_over_a_few_products_from_two_processes_sell_what_their_events_say(
    stack: LedgerStack,
) -> None:
    """Each order takes two of a few products, so both API processes' cached copies go stale
    all the time and their group commits hold commands on disjoint products: a group that
    conflicts must commit nothing of any command, and the rest of it must commit once."""
    admin = sign_in_admin(stack)
    with stack.client(timeout=60) as client:
        products = [create_product(client, admin, stock=SPREAD_STOCK) for _ in range(SPREAD)]
    settings = make_settings()
    tokens = [create_access_token(settings, f"usr_spread{n}", "customer")[0] for n in range(BUYERS)]
    pairs = [(products[n % SPREAD], products[(n + 1) % SPREAD]) for n in range(BUYERS)]
    with clients_per_thread(stack) as client:

        def buy(token: str, pair: tuple[str, str]) -> tuple[int, str | None, str | None]:
            body = order_body(pair[0])
            body["items"].append({"product_id": pair[1], "quantity": 1})
            headers = {**auth(token), "Prefer": "respond-async"}
            response = client().post("/orders", json=body, headers=headers)
            answer = response.json()
            if answer["success"]:
                return response.status_code, None, str(answer["data"]["id"])
            return response.status_code, answer["error"]["code"], None

        with ThreadPoolExecutor(THREADS) as pool:
            outcomes = list(pool.map(buy, tokens, pairs))

    kinds = Counter((status, code) for status, code, _ in outcomes)
    assert set(kinds) <= {(202, None), (409, "INSUFFICIENT_STOCK")}, kinds
    orders = [order for _, _, order in outcomes if order is not None]
    sold = Counter(
        p for (_, _, order), pair in zip(outcomes, pairs, strict=True) if order for p in pair
    )
    with psycopg.connect(stack.database_url) as conn:
        reserved = dict(
            conn.execute(
                "SELECT originator_id, count(*) FROM ledger_events"
                " WHERE originator_id = ANY(%s) AND topic LIKE %s GROUP BY originator_id",
                (products, "%.StockReserved"),
            ).fetchall()
        )
        placed = conn.execute(
            "SELECT count(*) FROM ledger_events WHERE originator_id = ANY(%s) AND topic LIKE %s",
            (orders, "%.OrderPlaced"),
        ).fetchone()
    # Every product reserved once per order answered with it, and never past its stock.
    assert {p: reserved.get(p, 0) for p in products} == {p: sold[p] for p in products}
    assert all(sold[p] <= SPREAD_STOCK for p in products), sold
    assert len(set(orders)) == len(orders)
    assert placed == (len(orders),)
    wait_until(caught_up(stack.database_url, ["products"]), 30, "the catalog to catch up")
    with stack.client(timeout=30) as client:
        for product in products:
            data = client.get(f"/products/{product}").json()["data"]
            assert data["reserved"] == sold[product], (product, data)


def test_concurrent_registrations_of_one_email_make_one_account(stack: LedgerStack) -> None:
    email = unique_email("race")
    with clients_per_thread(stack) as client:

        def sign_up(n: int) -> int:
            # Spellings differ only in case: emails are unique case-insensitively.
            spelled = email.upper() if n % 2 else email
            body = {"name": f"Racer {n}", "email": spelled, "password": PASSWORD}
            return client().post("/auth/register", json=body).status_code

        with ThreadPoolExecutor(REGISTRATIONS) as pool:
            statuses = Counter(pool.map(sign_up, range(REGISTRATIONS)))
    assert statuses == {201: 1, 409: REGISTRATIONS - 1}
