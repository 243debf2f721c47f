"""The product admin flow and the public catalog, over HTTP."""

from __future__ import annotations

import uuid

import httpx

from tests.data import auth


def test_admin_product_flow(client: httpx.Client, admin_token: str) -> None:
    product_id = f"prod_e2e_{uuid.uuid4().hex[:8]}"
    category = f"cat-{uuid.uuid4().hex[:6]}"
    created = client.post(
        "/products/",
        json={
            "id": product_id,
            "name": "Blue Kettle",
            "description": "Boils water",
            "price": 29.99,
            "category": category,
            "tags": ["kitchen"],
            "stock": 10,
        },
        headers=auth(admin_token),
    )
    assert created.status_code == 201, created.text
    product = created.json()["data"]
    assert product["id"] == product_id
    assert product["price"] == "29.99"
    assert (product["on_hand"], product["reserved"], product["available"]) == (10, 0, 10)

    # Read your writes: the public detail and list show it at once.
    detail = client.get(f"/products/{product_id}")
    assert detail.status_code == 200
    assert detail.json()["data"]["name"] == "Blue Kettle"
    listed = client.get("/products", params={"category": category})
    assert [p["id"] for p in listed.json()["data"]] == [product_id]
    assert listed.json()["meta"] == {"page": 1, "page_size": 20, "total": 1}

    patched = client.patch(
        f"/products/{product_id}",
        json={"price": "24.50", "name": "Blue Kettle II"},
        headers=auth(admin_token),
    )
    assert patched.status_code == 200
    assert patched.json()["data"]["price"] == "24.50"
    assert client.get(f"/products/{product_id}").json()["data"]["name"] == "Blue Kettle II"

    received = client.post(
        f"/products/{product_id}/stock",
        json={"delta": 5, "reason": "delivery"},
        headers=auth(admin_token),
    )
    assert received.json()["data"]["on_hand"] == 15
    removed = client.post(
        f"/products/{product_id}/stock",
        json={"delta": -3, "reason": "damaged"},
        headers=auth(admin_token),
    )
    assert removed.json()["data"]["available"] == 12
    too_many = client.post(
        f"/products/{product_id}/stock",
        json={"delta": -100, "reason": "lost"},
        headers=auth(admin_token),
    )
    assert too_many.status_code == 409
    assert too_many.json()["error"]["code"] == "INSUFFICIENT_STOCK"

    deleted = client.delete(f"/products/{product_id}", headers=auth(admin_token))
    assert deleted.status_code == 200
    assert deleted.json()["data"]["status"] == "discontinued"
    assert client.get("/products", params={"category": category}).json()["data"] == []
    assert client.get(f"/products/{product_id}").json()["data"]["status"] == "discontinued"


def test_catalog_filters_sort_and_money(client: httpx.Client, admin_token: str) -> None:
    category = f"cat-{uuid.uuid4().hex[:6]}"
    prices = ["5.00", "12.50", "99.99"]
    for price in prices:
        response = client.post(
            "/products",
            json={"name": f"Item {price}", "price": price, "category": category, "stock": 1},
            headers=auth(admin_token),
        )
        assert response.status_code == 201
    cheap_first = client.get("/products", params={"category": category, "sort": "price"})
    assert [p["price"] for p in cheap_first.json()["data"]] == prices
    ranged = client.get(
        "/products", params={"category": category, "min_price": "10", "max_price": "50"}
    )
    assert [p["price"] for p in ranged.json()["data"]] == ["12.50"]
    searched = client.get("/products", params={"category": category, "q": "item 99"})
    assert [p["price"] for p in searched.json()["data"]] == ["99.99"]
    in_stock = client.get("/products", params={"category": category, "in_stock": "true"})
    assert len(in_stock.json()["data"]) == 3
    sold_out = client.get("/products", params={"category": category, "in_stock": "false"})
    assert sold_out.json()["data"] == []
    paged = client.get(
        "/products", params={"category": category, "sort": "-price", "page_size": 2, "page": 2}
    )
    assert [p["price"] for p in paged.json()["data"]] == ["5.00"]
    assert paged.json()["meta"]["total"] == 3
    too_precise = client.post(
        "/products",
        json={"name": "X", "price": "1.001", "category": category},
        headers=auth(admin_token),
    )
    assert too_precise.status_code == 422


def test_unknown_product_is_404(client: httpx.Client) -> None:
    response = client.get("/products/prod_does_not_exist")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": {
            "code": "NOT_FOUND",
            "message": "product prod_does_not_exist not found",
            "details": None,
        },
    }
