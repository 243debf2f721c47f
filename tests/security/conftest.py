"""Fixtures of the security tests: one running ledger for the package with the production rate
limits switched on, and clients that each come from an address of their own (uvicorn trusts
X-Forwarded-For from the loopback proxy), so one test's sign-ins never spend another's."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest

from tests.api_steps import sign_in_admin
from tests.servers import LedgerStack, StartStack

AUTH_PER_ADDRESS = 10
LOGIN_FAILURES_PER_EMAIL = 5
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


@pytest.fixture(scope="package")
def stack(start_stack: StartStack) -> Iterator[LedgerStack]:
    with start_stack(
        "security",
        RATE_LIMIT_AUTH_PER_ADDRESS=f"{AUTH_PER_ADDRESS}/minute",
        RATE_LIMIT_LOGIN_PER_EMAIL=f"{LOGIN_FAILURES_PER_EMAIL}/hour",
    ) as running:  # fmt: skip
        yield running


@pytest.fixture(scope="package")
def admin(stack: LedgerStack) -> str:
    return sign_in_admin(stack)


def address_client(stack: LedgerStack) -> httpx.Client:
    """A client whose requests come from an address no other client uses."""
    return stack.client(headers={"X-Forwarded-For": next(_addresses)})


@pytest.fixture
def client(stack: LedgerStack) -> Iterator[httpx.Client]:
    with address_client(stack) as http:
        yield http
