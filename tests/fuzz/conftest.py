"""Fixtures of the fuzz tests: one running ledger for the package, an admin, a customer and a
product, so generated requests reach every endpoint past authentication."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.api_steps import login, register, sign_in_admin
from tests.data import auth, order_body, unique_email
from tests.processes import wait_until
from tests.projector_process import caught_up
from tests.servers import LedgerStack, StartStack, create_product


@dataclass(frozen=True)
class FuzzWorld:
    stack: LedgerStack
    admin: str
    customer: str
    product: str
    order: str


@pytest.fixture(scope="package")
def world(start_stack: StartStack) -> Iterator[FuzzWorld]:
    # No waiting for projections: generated consistency positions would each cost the wait.
    with start_stack("fuzz", LEDGER_CONSISTENCY_TIMEOUT="0", LOG_LEVEL="INFO") as stack:
        admin = sign_in_admin(stack)
        with stack.client(timeout=30) as client:
            product = create_product(client, admin, stock=1_000_000)
            email = unique_email("fuzz")
            register(client, email)
            wait_until(caught_up(stack.database_url, ["users"]), 30, "the users projection")
            customer = login(client, email)["access_token"]
            order = client.post("/orders", json=order_body(product), headers=auth(customer))
            assert order.status_code in {201, 202}, order.text
        yield FuzzWorld(stack, admin, customer, product, order.json()["data"]["id"])
