"""The HTTP steps most API tests begin with: customers, an admin made as
`ledger users create-admin` makes one, and products."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from ledger.application import Ledger
from ledger.commands import RegisterUser
from ledger.domain import Role
from ledger.passwords import hash_password
from tests.data import PASSWORD, auth, make_settings, product_body, unique_email
from tests.processes import wait_for_projection


def register(
    client: httpx.Client, email: str, password: str = PASSWORD, name: str = "Customer"
) -> str:
    """A new customer through the API (`client` is based at /api/v1); returns its id."""
    response = client.post(
        "/auth/register", json={"name": name, "email": email, "password": password}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Signs in through the API (`client` is based at /api/v1); returns the tokens."""
    response = client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()["data"]
    return tokens


def register_and_login(client: httpx.Client, prefix: str = "customer") -> tuple[str, str]:
    """A new customer through the API, named after `prefix`: (user id, access token)."""
    email = unique_email(prefix)
    user_id = register(client, email, name=prefix.title())
    return user_id, str(login(client, email)["access_token"])


def customer_token(client: httpx.Client, prefix: str = "customer") -> str:
    """A new customer's access token."""
    return register_and_login(client, prefix)[1]


def create_admin(database_url: str) -> tuple[str, int]:
    """An admin, made as `ledger users create-admin` makes one (Ledger.register_user with
    Role.ADMIN): its email and the position of its event, for waiting on the projection."""
    email = unique_email("admin")
    ledger = Ledger(make_settings(), database_url, pool_size=1)
    try:
        result = ledger.register_user(
            RegisterUser(
                name="Admin", email=email, password_hash=hash_password(PASSWORD), role=Role.ADMIN
            )
        )
    finally:
        ledger.close()
    return email, result.position


class RunningApi(Protocol):
    """A running `ledger serve` (and its projectors) on a database."""

    @property
    def database_url(self) -> str: ...

    @property
    def api_url(self) -> str: ...

    def client(self, timeout: float = 30, **options: Any) -> httpx.Client: ...


def sign_in_admin(stack: RunningApi) -> str:
    """A new admin's access token: made as the CLI makes one, once the users projection
    has it, signed in over HTTP."""
    email, position = create_admin(stack.database_url)
    wait_for_projection(stack.database_url, "users", position)
    with stack.client() as client:
        return str(login(client, email)["access_token"])


def post_product(
    client: httpx.Client, token: str, statuses: frozenset[int] = frozenset({201}), **fields: Any
) -> dict[str, Any]:
    """Creates a product through the API as admin `token`; returns the response's data."""
    response = client.post("/products", json=product_body(**fields), headers=auth(token))
    assert response.status_code in statuses, response.text
    data: dict[str, Any] = response.json()["data"]
    return data
