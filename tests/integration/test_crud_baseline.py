"""The CRUD baseline the bench compares the ledger with (bench.crud) is correct where the
comparison relies on it: a login's token places orders, and concurrent orders never take a
product's stock below zero (the row lock), all on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from bench.crud import database as crud_database
from bench.crud.app import create_app
from ledger import database

STOCK = 5
PASSWORD = "Correct-Horse-9!"
ADDRESS = {
    "full_name": "Test User",
    "address_line1": "1 Test St",
    "city": "Test City",
    "state": "TS",
    "postal_code": "12345",
    "country": "US",
}


@pytest.fixture
def crud_url(server_url: str) -> Iterator[str]:
    name = f"ledger_test_crud_{uuid.uuid4().hex[:12]}"
    database.create_database(server_url, name)
    url = database.with_database(server_url, name)
    asyncio.run(crud_database.create(url, STOCK))
    yield url
    database.drop_database(server_url, name)


@pytest.fixture
def app(crud_url: str, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setenv("BENCH_CRUD_DATABASE_URL", crud_url)
    monkeypatch.setenv("BENCH_CRUD_SECRET", "t" * 48)
    return create_app()


async def _client_run(
    app: FastAPI, scenario: Callable[[httpx.AsyncClient], Awaitable[None]]
) -> None:
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://crud") as client:
            await scenario(client)
    finally:
        await app.state.engine.dispose()


async def _sign_in(client: httpx.AsyncClient, email: str) -> str:
    registered = await client.post(
        "/api/v1/auth/register", json={"name": "T", "email": email, "password": PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token: str = login.json()["data"]["access_token"]
    return token


def test_login_issues_a_token_that_places_orders(app: FastAPI) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        token = await _sign_in(client, "ada@example.com")
        again = await client.post(
            "/api/v1/auth/register",
            json={"name": "T", "email": "ada@example.com", "password": PASSWORD},
        )
        assert again.status_code == 409
        wrong = await client.post(
            "/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD + "x"}
        )
        assert wrong.status_code == 401
        order = {
            "items": [{"product_id": "prod_1", "quantity": 2, "price": 29.99}],
            "shipping_address": ADDRESS,
            "payment_method": "stripe",
        }
        anonymous = await client.post("/api/v1/orders", json=order)
        assert anonymous.status_code == 401
        placed = await client.post(
            "/api/v1/orders", json=order, headers={"Authorization": f"Bearer {token}"}
        )
        assert placed.status_code == 201, placed.text
        assert placed.json()["data"]["total"] == "59.98"
        detail = await client.get("/api/v1/products/prod_1")
        assert detail.json()["data"]["stock"] == STOCK - 2

    asyncio.run(_client_run(app, scenario))


def test_concurrent_orders_never_take_stock_below_zero(app: FastAPI, crud_url: str) -> None:
    orders = 16

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = {"Authorization": f"Bearer {await _sign_in(client, 'bob@example.com')}"}

        async def place(n: int) -> int:
            # Half the orders name the two products in the other order: locks taken in id
            # order cannot deadlock.
            items = ["prod_2", "prod_3"] if n % 2 else ["prod_3", "prod_2"]
            body = {
                "items": [{"product_id": p, "quantity": 1} for p in items],
                "shipping_address": ADDRESS,
                "payment_method": "card",
            }
            response = await client.post("/api/v1/orders", json=body, headers=headers)
            assert response.status_code in {201, 409}, response.text
            return response.status_code

        codes = await asyncio.gather(*(place(n) for n in range(orders)))
        assert codes.count(201) == STOCK
        assert codes.count(409) == orders - STOCK

    asyncio.run(_client_run(app, scenario))
    with psycopg.connect(crud_url) as conn:
        stock: dict[str, int] = dict(
            conn.execute("SELECT id, stock FROM products WHERE id IN ('prod_2', 'prod_3')")
        )
        sold = conn.execute("SELECT sum(quantity) FROM order_items WHERE product_id = 'prod_2'")
        assert stock == {"prod_2": 0, "prod_3": 0}
        assert sold.fetchone() == (STOCK,)
