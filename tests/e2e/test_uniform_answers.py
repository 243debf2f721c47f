"""One shape per answer, in a stable order: Prefer: respond-async is always the 202, every 422's
details is a list of {loc, msg, type}, the shipping address keeps the contract's key order,
and the inventory report lists product ids in natural order."""

from __future__ import annotations

import uuid

import httpx

from tests.data import ADDRESS, auth, order_body
from tests.e2e.conftest import create_product

ADDRESS_KEYS = [
    "full_name",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
]


def test_respond_async_is_always_the_202_with_id_and_position(
    client: httpx.Client, admin_token: str
) -> None:
    product = create_product(client, admin_token)
    for _ in range(8):
        changed = client.patch(
            f"/products/{product['id']}",
            json={"description": f"v{uuid.uuid4().hex}"},
            headers={**auth(admin_token), "Prefer": "respond-async"},
        )
        assert changed.status_code == 202, changed.text
        data = changed.json()["data"]
        assert data == {"id": product["id"], "position": int(changed.headers["X-Ledger-Position"])}


def _issues(response: httpx.Response) -> list[dict[str, object]]:
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert isinstance(details, list), details
    assert details
    for issue in details:
        assert set(issue) == {"loc", "msg", "type"}, issue
        assert isinstance(issue["loc"], list)
    return details


def test_every_422_has_a_list_of_issues(client: httpx.Client, admin_token: str) -> None:
    [schema] = _issues(client.get("/products", params={"page_size": 1000}))
    assert schema["loc"] == ["query", "page_size"]
    [price] = _issues(client.get("/products", params={"min_price": "1.999"}))
    assert price["loc"] == ["query", "min_price"]
    [period] = _issues(
        client.get(
            "/reports/sales", params={"from": "2024-02-01", "to": "2024-01-01"},
            headers=auth(admin_token),
        )
    )  # fmt: skip
    assert period["loc"] == ["query", "from"]
    body = {**order_body("prod_1"), "items": [{"product_id": "prod_1", "quantity": 1,
                                                "price": "1.999"}]}  # fmt: skip
    [item] = _issues(client.post("/orders", json=body, headers=auth(admin_token)))
    assert item["loc"] == ["body", "items", "0", "price"]
    _issues(
        client.post(
            "/auth/login", content=b"{not json", headers={"content-type": "application/json"}
        )
    )


def test_the_shipping_address_comes_back_in_the_contracts_order(
    client: httpx.Client, admin_token: str, customer: tuple[str, str]
) -> None:
    product = create_product(client, admin_token)
    body = {
        **order_body(product["id"]),
        "shipping_address": {**ADDRESS, "address_line2": "Apt 4"},
    }
    placed = client.post("/orders", json=body, headers=auth(customer[1]))
    assert placed.status_code == 201, placed.text
    assert list(placed.json()["data"]["shipping_address"]) == ADDRESS_KEYS
    read = client.get(f"/orders/{placed.json()['data']['id']}", headers=auth(customer[1]))
    assert list(read.json()["data"]["shipping_address"]) == ADDRESS_KEYS


def test_the_inventory_report_sorts_product_ids_naturally(
    client: httpx.Client, admin_token: str
) -> None:
    prefix = f"prod_nat{uuid.uuid4().hex[:8]}_"
    ours = [f"{prefix}{n}" for n in (10, 2, 1, 21, 3)]
    for product_id in ours:
        created = client.post(
            "/products",
            json={"id": product_id, "name": f"Natural {product_id}", "price": "1.00",
                  "category": "e2e", "tags": ["e2e"]},
            headers=auth(admin_token),
        )  # fmt: skip
        assert created.status_code == 201, created.text
    seen: list[str] = []
    page = 1
    while True:
        report = client.get(
            "/reports/inventory",
            params={"page": page, "page_size": 100},
            headers={**auth(admin_token), "X-Ledger-Consistency": created.headers[
                "X-Ledger-Position"]},
        )  # fmt: skip
        assert report.status_code == 200, report.text
        rows = report.json()["data"]
        seen += [row["product_id"] for row in rows]
        if len(rows) < 100:
            break
        page += 1
    assert [p for p in seen if p.startswith(prefix)] == [f"{prefix}{n}" for n in (1, 2, 3, 10, 21)]
    assert len(seen) == len(set(seen))
