"""Two `ledger serve` processes on one database: a PATCH that changes nothing on A's stale
cache confirms A's state is current before it answers (no lost update)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.api_steps import post_product, sign_in_admin
from tests.data import auth
from tests.processes import START_TIMEOUT, answers, free_port, spawn_cli, stop, wait_until
from tests.servers import LedgerStack, StartStack

pytestmark = pytest.mark.timeout(300)


class SecondApi:
    """Another `ledger serve` on the stack's database and Redis: a second process's cache."""

    def __init__(self, stack: LedgerStack) -> None:
        port = free_port()
        log = stack.workdir / "api-b.log"
        args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        self.process = spawn_cli(args, stack.env, log, cwd=stack.workdir)
        base = f"http://127.0.0.1:{port}"
        wait_until(answers(base, "/health", self.process, log), START_TIMEOUT, "API B to answer")
        self.api_url = f"{base}/api/v1"


@pytest.fixture(scope="module")
def two_apis(start_stack: StartStack) -> Iterator[tuple[LedgerStack, SecondApi]]:
    with start_stack("stale-cache") as stack:
        second = SecondApi(stack)
        try:
            yield stack, second
        finally:
            stop(second.process)


def test_a_patch_back_to_the_cached_price_is_not_lost(
    two_apis: tuple[LedgerStack, SecondApi],
) -> None:
    stack, second = two_apis
    token = sign_in_admin(stack)
    with (
        httpx.Client(base_url=stack.api_url, timeout=30) as a,
        httpx.Client(base_url=second.api_url, timeout=30) as b,
    ):
        product_id = post_product(a, token, price="10.00")["id"]  # A caches it at 10.00
        to_20 = b.patch(f"/products/{product_id}", json={"price": "20.00"}, headers=auth(token))
        assert to_20.status_code == 200, to_20.text

        back = a.patch(f"/products/{product_id}", json={"price": "10.00"}, headers=auth(token))

    assert back.status_code == 200, back.text
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT count(*), max(notification_id) FROM ledger_events WHERE originator_id = %s",
            (product_id,),
        ).fetchone()
    assert row is not None
    assert row[0] == 3  # created, changed to 20.00, changed back to 10.00
    assert int(back.headers["X-Ledger-Position"]) == row[1]
