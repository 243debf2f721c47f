"""Placing orders and their whole lifecycle, over HTTP: stock moves, history, and the
409s (price changed, insufficient stock, invalid transition)."""

from __future__ import annotations

import httpx

from tests.api_steps import register_and_login
from tests.data import ADDRESS, auth
from tests.e2e.conftest import create_product


def _order_body(product_id: object, quantity: int = 2, price: object = None) -> dict[str, object]:
    item: dict[str, object] = {"product_id": product_id, "quantity": quantity}
    if price is not None:
        item["price"] = price
    return {"items": [item], "shipping_address": ADDRESS, "payment_method": "stripe"}


def _product(client: httpx.Client, product_id: object) -> dict[str, int]:
    data: dict[str, int] = client.get(f"/products/{product_id}").json()["data"]
    return data


def test_place_order_the_seed_way_then_read_it(client: httpx.Client, admin_token: str) -> None:
    product = create_product(client, admin_token, price="29.99", stock=10)
    _, token = register_and_login(client)
    placed = client.post("/orders/", json=_order_body(product["id"], 2, 29.99), headers=auth(token))
    assert placed.status_code == 201, placed.text
    order = placed.json()["data"]
    assert order["status"] == "pending"
    assert order["total"] == "59.98"
    assert order["items"][0]["unit_price"] == "29.99"
    assert order["items"][0]["subtotal"] == "59.98"
    assert order["shipping_address"]["country"] == "US"
    # Read your writes: no header needed.
    fetched = client.get(f"/orders/{order['id']}", headers=auth(token))
    assert fetched.status_code == 200
    assert fetched.json()["data"]["id"] == order["id"]
    mine = client.get("/orders", headers=auth(token)).json()
    assert [o["id"] for o in mine["data"]] == [order["id"]]
    assert mine["meta"]["total"] == 1
    stock = _product(client, product["id"])
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (10, 2, 8)


def test_whole_lifecycle_moves_stock_and_records_history(
    client: httpx.Client, admin_token: str
) -> None:
    product = create_product(client, admin_token, stock=10)
    _, token = register_and_login(client)
    order_id = client.post(
        "/orders", json=_order_body(product["id"], 3), headers=auth(token)
    ).json()["data"]["id"]
    admin = auth(admin_token)
    steps = [
        ("confirm", {"payment_intent_id": "pi_123"}, "confirmed"),
        ("process", None, "processing"),
        ("ship", {"carrier": "UPS", "tracking_number": "1Z999"}, "shipped"),
        ("deliver", None, "delivered"),
    ]
    for action, body, status in steps:
        response = client.post(f"/orders/{order_id}/{action}", json=body, headers=admin)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["status"] == status
    shipped = client.get(f"/orders/{order_id}", headers=auth(token)).json()["data"]
    assert (shipped["carrier"], shipped["tracking_number"]) == ("UPS", "1Z999")
    assert shipped["payment_intent_id"] == "pi_123"
    stock = _product(client, product["id"])
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (7, 0, 7)

    refunded = client.post(f"/orders/{order_id}/refund", json={"reason": "broken"}, headers=admin)
    assert refunded.json()["data"]["status"] == "refunded"
    history = client.get(f"/orders/{order_id}/history", headers=auth(token)).json()["data"]
    assert [h["status"] for h in history] == [
        "pending", "confirmed", "processing", "shipped", "delivered", "refunded",
    ]  # fmt: skip
    assert all(h["at"] and h["actor"] for h in history)


def test_cancel_releases_stock(client: httpx.Client, admin_token: str) -> None:
    product = create_product(client, admin_token, stock=5)
    _, token = register_and_login(client)
    order_id = client.post(
        "/orders", json=_order_body(product["id"], 4), headers=auth(token)
    ).json()["data"]["id"]
    assert _product(client, product["id"])["available"] == 1
    cancelled = client.post(
        f"/orders/{order_id}/cancel", json={"reason": "changed my mind"}, headers=auth(token)
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["data"]["status"] == "cancelled"
    assert _product(client, product["id"])["available"] == 5


def test_price_changed_insufficient_stock_and_invalid_transition_are_409(
    client: httpx.Client, admin_token: str
) -> None:
    product = create_product(client, admin_token, price="10.00", stock=3)
    _, token = register_and_login(client)
    stale = client.post("/orders", json=_order_body(product["id"], 1, "9.99"), headers=auth(token))
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "PRICE_CHANGED"
    assert stale.json()["error"]["details"]["current"] == "10.00"
    greedy = client.post("/orders", json=_order_body(product["id"], 4), headers=auth(token))
    assert greedy.status_code == 409
    assert greedy.json()["error"]["code"] == "INSUFFICIENT_STOCK"
    order_id = client.post(
        "/orders", json=_order_body(product["id"], 1), headers=auth(token)
    ).json()["data"]["id"]
    early = client.post(f"/orders/{order_id}/ship", json={"carrier": "X", "tracking_number": "1"},
                        headers=auth(admin_token))  # fmt: skip
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "INVALID_TRANSITION"
    unknown = client.post("/orders", json=_order_body("prod_nope", 1), headers=auth(token))
    assert unknown.status_code == 404
