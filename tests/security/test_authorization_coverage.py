"""Extends the authorisation matrix of tests/e2e/test_authorization.py: every operation in the
OpenAPI must be in that matrix or here, and the operations it leaves out (placing an order,
the sign-in endpoints) are checked here for each kind of caller."""

from __future__ import annotations

import httpx

from api.app import create_app
from tests.api_steps import customer_token
from tests.data import auth, make_settings, order_body
from tests.e2e.test_authorization import ADMIN, OWN, PUBLIC, SIGNED_IN
from tests.security.conftest import address_client
from tests.servers import LedgerStack, create_product

# Operations the e2e matrix does not list, with who may call them.
ANONYMOUS_WRITES = [("POST", "/auth/register"), ("POST", "/auth/login"), ("POST", "/auth/refresh")]
CUSTOMER_WRITES = [("POST", "/orders")]


def _normalise(path: str) -> str:
    return (
        path.replace("{product}", "{product_id}")
        .replace("{order}", "{order_id}")
        .replace("{user}", "{user_id}")
    )


def test_every_operation_is_in_a_matrix() -> None:
    settings = make_settings()
    schema = create_app(settings).openapi()
    operations = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, methods in schema["paths"].items()
        for method in methods
    }
    covered = {
        (method, _normalise(path))
        for method, path in PUBLIC + SIGNED_IN + OWN + ADMIN + ANONYMOUS_WRITES + CUSTOMER_WRITES
    }
    assert operations == covered


def test_placing_an_order_needs_a_signed_in_customer(stack: LedgerStack, admin: str) -> None:
    with address_client(stack) as client:
        product = create_product(client, admin, stock=10)
        body = order_body(product)
        assert client.post("/orders", json=body).status_code == 401
        assert client.post("/orders", json=body, headers=auth("x.y.z")).status_code == 401
        customer = customer_token(client)
        placed = client.post("/orders", json=body, headers=auth(customer))
        assert placed.status_code == 201
        # The order belongs to its placer, whoever else signs in.
        order = placed.json()["data"]
        assert client.get(f"/orders/{order['id']}", headers=auth(customer)).status_code == 200
        other = customer_token(client, "other")
        assert client.get(f"/orders/{order['id']}", headers=auth(other)).status_code == 404


def test_the_sign_in_endpoints_need_no_token(client: httpx.Client) -> None:
    for method, path in ANONYMOUS_WRITES:
        response = client.request(method, path, json={})
        # Refused for the empty body, never for the missing token.
        assert response.status_code == 422, (path, response.text)
