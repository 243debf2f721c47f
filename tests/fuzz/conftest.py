"""Fixtures of the fuzz tests: one running ledger for the package, an admin, a customer and a
product, so generated requests reach every endpoint past authentication."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.projector_process import caught_up, wait_until
from tests.servers import (
    LedgerStack,
    admin_token,
    auth,
    create_product,
    ledger_stack,
    login,
    order_body,
    register,
    unique_email,
)


@dataclass(frozen=True)
class FuzzWorld:
    stack: LedgerStack
    admin: str
    customer: str
    product: str
    order: str


@pytest.fixture(scope="package")
def world(
    make_database: Callable[[], str],
    redis_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FuzzWorld]:
    # No waiting for projections: generated consistency positions would each cost the wait.
    with ledger_stack(
        make_database(), redis_server_url, tmp_path_factory.mktemp("fuzz"),
        LEDGER_CONSISTENCY_TIMEOUT="0", LOG_LEVEL="INFO",
    ) as stack:  # fmt: skip
        admin = admin_token(stack)
        with httpx.Client(base_url=stack.api_url, timeout=30) as client:
            product = create_product(client, admin, stock=1_000_000)
            email = unique_email("fuzz")
            register(client, email)
            wait_until(caught_up(stack.database_url, ["users"]), 30, "the users projection")
            customer = login(client, email)["access_token"]
            order = client.post("/orders", json=order_body(product), headers=auth(customer))
            assert order.status_code in {201, 202}, order.text
        yield FuzzWorld(stack, admin, customer, product, order.json()["data"]["id"])
