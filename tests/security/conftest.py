"""Fixtures of the security tests: one running ledger for the package with the production rate
limits switched on, and clients that each come from an address of their own (uvicorn trusts
X-Forwarded-For from the loopback proxy), so one test's sign-ins never spend another's."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.servers import LedgerStack, admin_token, ledger_stack

AUTH_PER_ADDRESS = 10
LOGIN_FAILURES_PER_EMAIL = 5
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


@pytest.fixture(scope="package")
def stack(
    make_database: Callable[[], str],
    redis_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LedgerStack]:
    with ledger_stack(
        make_database(), redis_server_url, tmp_path_factory.mktemp("security"),
        RATE_LIMIT_AUTH_PER_ADDRESS=f"{AUTH_PER_ADDRESS}/minute",
        RATE_LIMIT_LOGIN_PER_EMAIL=f"{LOGIN_FAILURES_PER_EMAIL}/hour",
    ) as running:  # fmt: skip
        yield running


@pytest.fixture(scope="package")
def admin(stack: LedgerStack) -> str:
    return admin_token(stack)


def address_client(stack: LedgerStack) -> httpx.Client:
    """A client whose requests come from an address no other client uses."""
    return httpx.Client(
        base_url=stack.api_url, timeout=30, headers={"X-Forwarded-For": next(_addresses)}
    )


@pytest.fixture
def client(stack: LedgerStack) -> Iterator[httpx.Client]:
    with address_client(stack) as http:
        yield http
