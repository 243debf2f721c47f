"""End-to-end fixtures: the real API (`ledger serve`, uvicorn) and the real projectors
(`ledger projector run`) as subprocesses on a fresh database, Redis included; tests talk
HTTP to them with httpx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api_steps import post_product, register_and_login, sign_in_admin
from tests.processes import redis_database
from tests.servers import LedgerStack, StartStack

LOGIN_FAILURES_ALLOWED = 3


# The API as the e2e tests expect it: a login limit they can reach, logs at the default level.
STACK_SETTINGS = {
    "RATE_LIMIT_LOGIN_PER_EMAIL": f"{LOGIN_FAILURES_ALLOWED}/hour",
    "LOG_LEVEL": "INFO",
}


@pytest.fixture(scope="session")
def stack(start_stack: StartStack, redis_server_url: str) -> Iterator[LedgerStack]:
    """The API and every projector, shared by the session, on their own database."""
    with start_stack("e2e-logs", redis_database(redis_server_url), **STACK_SETTINGS) as running:
        yield running


@pytest.fixture
def client(stack: LedgerStack) -> Iterator[httpx.Client]:
    with stack.client(timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
def admin_token(stack: LedgerStack) -> str:
    return sign_in_admin(stack)


@pytest.fixture
def customer(client: httpx.Client) -> tuple[str, str]:
    return register_and_login(client)


def create_product(
    client: httpx.Client, admin_token: str, price: str = "29.99", stock: int = 100
) -> dict[str, Any]:
    """A product through the API, tagged as the e2e tier's: the response's data."""
    return post_product(client, admin_token, price=price, stock=stock, tags=["e2e"])
