"""Two `ledger serve` processes on one database and one Redis (the stack's two), and two ledgers
on one Redis:
read your writes across processes (the read cache included), Redis namespaced per ledger,
the failed-login limit as an atomic reservation, and reads that survive terminated
connections."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.api_steps import post_product, register, sign_in_admin
from tests.data import PASSWORD, auth, unique_email
from tests.servers import LedgerStack, StartStack

pytestmark = pytest.mark.timeout(300)
ROUNDS = 300
LOGIN_LIMIT = 10
ATTEMPTS = 40


@pytest.fixture(scope="module")
def two_apis(start_stack: StartStack) -> Iterator[LedgerStack]:
    """A stack whose two API processes (`api_urls`) serve one database and Redis."""
    with start_stack("two-apis", RATE_LIMIT_LOGIN_PER_EMAIL=f"{LOGIN_LIMIT}/15minutes") as stack:
        assert len(stack.api_urls) >= 2, "these tests need two API processes"
        yield stack


def test_a_write_on_one_process_is_read_on_the_other(
    two_apis: LedgerStack,
) -> None:
    stack = two_apis
    a_url, b_url = stack.api_urls[:2]
    token = sign_in_admin(stack)
    with (
        httpx.Client(base_url=a_url, timeout=30) as a,
        httpx.Client(base_url=b_url, timeout=30) as b,
    ):
        product_id = post_product(a, token)["id"]
        # Other readers keep B busy, as under load: its LISTEN wake-up then often comes after
        # the next request, which is when a position heard by B alone lets a stale entry out.
        busy = threading.Event()
        readers = [threading.Thread(target=_read_until, args=(b_url, product_id, busy))
                   for _ in range(3)]  # fmt: skip
        for reader in readers:
            reader.start()
        try:
            stale = _stale_rounds(a, b, token, product_id)
        finally:
            busy.set()
            for reader in readers:
                reader.join()
    assert stale == [], f"{len(stale)} stale reads in {ROUNDS}"


def _read_until(api_url: str, product_id: str, done: threading.Event) -> None:
    with httpx.Client(base_url=api_url, timeout=30) as client:
        while not done.is_set():
            client.get(f"/products/{product_id}")


def _stale_rounds(a: httpx.Client, b: httpx.Client, token: str, product_id: str) -> list[int]:
    """PATCHes on A, each read back on B; the rounds whose read showed an older price."""
    stale = []
    for round_ in range(ROUNDS):
        price = f"{10 + round_ % 2}.00"
        patched = a.patch(f"/products/{product_id}", json={"price": price}, headers=auth(token))
        assert patched.status_code == 200, patched.text
        read = b.get(f"/products/{product_id}")  # no headers: the cache may answer
        assert read.status_code == 200, read.text
        if read.json()["data"]["price"] != price:
            stale.append(round_)
    return stale


def test_two_ledgers_on_one_redis_share_nothing(
    two_apis: LedgerStack, start_stack: StartStack
) -> None:
    first = two_apis
    email = unique_email("shared-redis")
    with start_stack("other-ledger", redis_url=first.redis_url) as other:
        for stack in (first, other):
            with httpx.Client(base_url=stack.api_url, timeout=30) as client:
                register(client, email)
        first_token, other_token = sign_in_admin(first), sign_in_admin(other)
        with (
            httpx.Client(base_url=first.api_url, timeout=30) as one,
            httpx.Client(base_url=other.api_url, timeout=30) as two,
        ):
            # The same id on both: a shared cache entry would show one's price on the other.
            product_id = f"prod_{email.split('@')[0]}"
            post_product(one, first_token, id=product_id, price="1.00")
            post_product(two, other_token, id=product_id, price="2.00")
            for _ in range(3):
                assert one.get(f"/products/{product_id}").json()["data"]["price"] == "1.00"
                assert two.get(f"/products/{product_id}").json()["data"]["price"] == "2.00"
            # Spend the failed-login allowance on one ledger; the other's is untouched.
            wrong = {"email": email, "password": "not the password"}
            statuses = [one.post("/auth/login", json=wrong).status_code for _ in range(12)]
            assert statuses[-1] == 429, statuses
            assert two.post("/auth/login", json=wrong).status_code == 401


def test_concurrent_wrong_passwords_stop_at_the_limit(
    two_apis: LedgerStack,
) -> None:
    stack = two_apis
    email = unique_email("hammered")
    with httpx.Client(base_url=stack.api_url, timeout=30) as client:
        register(client, email)

    async def attempt(url: str) -> int:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            body = {"email": email, "password": "not the password"}
            return (await client.post("/auth/login", json=body)).status_code

    async def hammer() -> list[int]:
        urls = stack.api_urls[:2]
        return await asyncio.gather(*(attempt(urls[i % 2]) for i in range(ATTEMPTS)))

    statuses = asyncio.run(hammer())
    assert set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) <= LOGIN_LIMIT, statuses
    with httpx.Client(base_url=stack.api_url, timeout=30) as client:
        # The right password is refused too while the allowance is spent.
        right = client.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert right.status_code == 429


def test_a_read_after_the_backends_were_terminated_answers(
    two_apis: LedgerStack,
) -> None:
    stack = two_apis
    token = sign_in_admin(stack)
    with httpx.Client(base_url=stack.api_url, timeout=30) as client:
        product_id = post_product(client, token)["id"]

        # Warm several pooled read connections, then kill every backend of the database.
        async def burst() -> None:
            async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as concurrent:
                await asyncio.gather(
                    *(concurrent.get("/products", params={"page": p}) for p in range(1, 21))
                )

        asyncio.run(burst())
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        statuses = [
            client.get(f"/products/{product_id}", params={"page": page}).status_code
            for page in range(1, 21)
        ]
    assert statuses == [200] * 20, statuses
