"""Who may call what: anonymous, customer, another customer and admin over every endpoint."""

from __future__ import annotations

import httpx
import pytest

from tests.api_steps import register_and_login
from tests.data import ADDRESS, auth
from tests.e2e.conftest import create_product
from tests.servers import LedgerStack

ANONYMOUS_OK = 200
PUBLIC = [("GET", "/products"), ("GET", "/products/{product}"), ("GET", "/health"),
          ("GET", "/health/ready"), ("GET", "/metrics")]  # fmt: skip
SIGNED_IN = [("GET", "/auth/me"), ("GET", "/orders"), ("GET", "/orders/{order}"),
             ("GET", "/orders/{order}/history"), ("POST", "/orders/{order}/cancel")]  # fmt: skip
ADMIN = [
    ("POST", "/products"), ("PATCH", "/products/{product}"),
    ("POST", "/products/{product}/stock"), ("DELETE", "/products/{product}"),
    ("POST", "/orders/{order}/confirm"), ("POST", "/orders/{order}/process"),
    ("POST", "/orders/{order}/ship"), ("POST", "/orders/{order}/deliver"),
    ("POST", "/orders/{order}/refund"), ("GET", "/reports/sales"),
    ("GET", "/reports/products/top"), ("GET", "/reports/inventory"),
    ("GET", "/reports/orders/status"), ("GET", "/projections"), ("DELETE", "/users/{user}"),
]  # fmt: skip
# The signed-in user's own data: their export, and their erasure (which needs a body).
OWN = [("GET", "/auth/me/export"), ("DELETE", "/auth/me")]


@pytest.fixture(scope="module")
def world(stack: LedgerStack, admin_token: str) -> dict[str, str]:
    """A product, an owner with an order, and another customer."""
    with stack.client() as client:
        product = create_product(client, admin_token, stock=100)
        _, owner = register_and_login(client, "owner")
        _, other = register_and_login(client, "other")
        victim, _ = register_and_login(client, "victim")  # the admin erases them
        order = client.post(
            "/orders",
            json={
                "items": [{"product_id": product["id"], "quantity": 1}],
                "shipping_address": ADDRESS,
                "payment_method": "card",
            },
            headers=auth(owner),
        ).json()["data"]
    return {
        "product": str(product["id"]),
        "order": order["id"],
        "owner": owner,
        "other": other,
        "victim": victim,
    }


def _call(
    client: httpx.Client, method: str, path: str, world: dict[str, str], token: str | None
) -> int:
    url = path.format(product=world["product"], order=world["order"], user=world["victim"])
    headers = auth(token) if token else {}
    # An empty JSON object: authorisation is decided before the body matters.
    body = None if method in {"GET", "DELETE"} else {}
    return client.request(method, url, json=body, headers=headers).status_code


def test_anonymous(client: httpx.Client, world: dict[str, str]) -> None:
    for method, path in PUBLIC:
        assert _call(client, method, path, world, None) == ANONYMOUS_OK, path
    for method, path in SIGNED_IN + OWN + ADMIN:
        assert _call(client, method, path, world, None) == 401, path


def test_customer_is_forbidden_admin_endpoints(client: httpx.Client, world: dict[str, str]) -> None:
    for method, path in ADMIN:
        assert _call(client, method, path, world, world["owner"]) == 403, path
    for method, path in SIGNED_IN[:4]:
        assert _call(client, method, path, world, world["owner"]) == 200, path


def test_another_customers_order_is_not_found(client: httpx.Client, world: dict[str, str]) -> None:
    for method, path in SIGNED_IN[2:]:
        assert _call(client, method, path, world, world["other"]) == 404, path
    listed = client.get("/orders", headers=auth(world["other"])).json()
    assert listed["meta"]["total"] == 0


def test_admin_passes_every_gate(
    client: httpx.Client, world: dict[str, str], admin_token: str
) -> None:
    for method, path in PUBLIC + SIGNED_IN + ADMIN:
        status = _call(client, method, path, world, admin_token)
        assert status not in {401, 403}, (path, status)
        assert status < 500, (path, status)
