"""Redis goes away under load and comes back: the API keeps serving, rate limits fall back to
the process, the cache is bypassed, /health/ready names Redis, and everything resumes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis

from tests.api_steps import customer_token, register, sign_in_admin
from tests.data import PASSWORD, unique_email
from tests.processes import wait_until
from tests.reliability.load import OrderLoad
from tests.servers import RedisServer, create_product, ledger_stack

LOGIN_FAILURES_ALLOWED = 3

pytestmark = pytest.mark.slow


def _keys(url: str, pattern: str) -> list[bytes]:
    """This ledger's keys matching `pattern` (the Redis server is the test's own)."""
    client = redis.Redis.from_url(url)
    try:
        return list(client.scan_iter(pattern))
    finally:
        client.close()


def _readiness(base_url: str) -> httpx.Response:
    return httpx.get(f"{base_url}/health/ready", timeout=10)


def _failed_logins(client: httpx.Client, email: str) -> Callable[[], list[int]]:
    def attempt() -> list[int]:
        body = {"email": email, "password": PASSWORD + "wrong"}
        return [client.post("/auth/login", json=body).status_code for _ in range(4)]

    return attempt


def test_redis_outage_degrades_and_recovers(
    make_database: Callable[[], str], own_redis: RedisServer, tmp_path: Path
) -> None:
    url = make_database()
    limits = {"RATE_LIMIT_LOGIN_PER_EMAIL": f"{LOGIN_FAILURES_ALLOWED}/hour"}
    with ledger_stack(url, own_redis.url, tmp_path, **limits) as stack:
        admin = sign_in_admin(stack)
        client = stack.client(timeout=30)
        product = create_product(client, admin, stock=1_000_000)
        buyer = customer_token(client)
        assert client.get("/products").status_code == 200
        assert _keys(own_redis.url, "*cache*"), "the catalog was not cached in Redis"
        load = OrderLoad(stack, buyer, product).start()
        try:
            wait_until(lambda: len(load.acknowledged) >= 10, 30, "orders before the outage")
            own_redis.kill()
            down_at = time.monotonic()

            readiness = _readiness(stack.base_url)
            assert readiness.status_code == 503
            checks = readiness.json()["error"]["details"]["checks"]
            assert checks["redis"].startswith("unavailable")
            assert checks["database"] == "ok"
            # Reads bypass the cache; sign-in still works; failed logins are limited in process.
            catalog = client.get("/products")
            assert catalog.status_code == 200
            assert product in {p["id"] for p in catalog.json()["data"]}
            email = unique_email("outage")
            register(client, email)
            # The fallback limit is each process's own: count on one process.
            with httpx.Client(base_url=stack.api_url, timeout=30) as one_process:
                assert _failed_logins(one_process, email)() == [401, 401, 401, 429]
            wait_until(lambda: load.acknowledged_since(down_at) >= 10, 30, "orders without Redis")

            own_redis.start()
            up_at = time.monotonic()
            for port in stack.ports:
                base_url = f"http://127.0.0.1:{port}"
                wait_until(lambda url=base_url: _readiness(url).status_code == 200, 30,
                           f"{base_url}/health/ready: 200 once Redis is back")  # fmt: skip
            # The cache and the shared rate limits are in Redis again.
            assert client.get("/products", params={"page_size": 7}).status_code == 200
            assert _keys(own_redis.url, "*cache*")
            assert _failed_logins(client, unique_email("after"))() == [401, 401, 401, 429]
            assert _keys(own_redis.url, "*rl*")
            wait_until(lambda: load.acknowledged_since(up_at) >= 10, 30, "orders after Redis")
        finally:
            load.stop()
            client.close()
        assert {a.status for a in load.answers} <= {201, 202}, load.statuses()
        assert not load.errors, load.errors[:5]
