"""Consistency tokens, Prefer: respond-async, and the idempotency race, over HTTP."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.api_steps import register_and_login
from tests.data import ADDRESS, auth
from tests.e2e.conftest import create_product
from tests.servers import LedgerStack


def test_respond_async_then_consistency_token_reads_the_write(
    client: httpx.Client, admin_token: str
) -> None:
    product = create_product(client, admin_token, stock=50)
    for _ in range(5):
        changed = client.patch(
            f"/products/{product['id']}",
            json={"description": f"v{uuid.uuid4().hex}"},
            headers={**auth(admin_token), "Prefer": "respond-async"},
        )
        assert changed.status_code in {200, 202}
        position = changed.headers["X-Ledger-Position"]
        seen = client.get(f"/products/{product['id']}", headers={"X-Ledger-Consistency": position})
        assert seen.status_code == 200
        assert "X-Ledger-Stale" not in seen.headers
        assert seen.json()["data"]["description"].startswith("v")
    bad = client.get("/products", headers={"X-Ledger-Consistency": "not-a-number"})
    assert bad.status_code == 422


def test_two_identical_concurrent_posts_make_one_order(
    stack: LedgerStack, admin_token: str, client: httpx.Client
) -> None:
    product = create_product(client, admin_token, stock=20)
    _, token = register_and_login(client)
    key = uuid.uuid4().hex
    body = {
        "items": [{"product_id": product["id"], "quantity": 1}],
        "shipping_address": ADDRESS,
        "payment_method": "stripe",
    }
    headers = {**auth(token), "Idempotency-Key": key}

    def post(api_url: str) -> httpx.Response:
        with httpx.Client(base_url=api_url, timeout=30) as own:
            return own.post("/orders", json=body, headers=headers)

    # One POST to each API process, at once.
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(post, stack.api_urls)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    replayed = [r for r in (first, second) if r.headers.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == 1
    assert first.headers["X-Ledger-Position"] == second.headers["X-Ledger-Position"]
    orders = client.get("/orders", headers=auth(token)).json()
    assert orders["meta"]["total"] == 1
    assert client.get(f"/products/{product['id']}").json()["data"]["reserved"] == 1

    again = client.post("/orders", json=body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    other = client.post("/orders", json={**body, "payment_method": "paypal"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
