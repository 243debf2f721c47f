"""The read cache: a second read of a product is answered from the worker's own memory, another
worker's read from Redis, and a write (with or without its X-Ledger-Position) is never
answered with the older cached body."""

from __future__ import annotations

from pathlib import Path

import orjson
import redis

from tests.observability.conftest import MakeClient, admin_headers, product_body
from tests.processes import wait_until
from tests.projector_process import projector


def test_product_detail_is_cached_in_process_and_in_redis_and_a_write_is_never_answered_from_it(
    make_client: MakeClient, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    store = redis.Redis.from_url(redis_url)
    with projector(database_url, tmp_path):
        client = make_client(redis_url=redis_url, ledger_consistency_timeout=5)
        admin = admin_headers(client, database_url)
        created = client.post("/api/v1/products", json=product_body(price="10.00"), headers=admin)
        assert created.status_code == 201, created.text
        product_id = created.json()["data"]["id"]
        path = f"/api/v1/products/{product_id}"

        first = client.get(path)
        assert first.status_code == 200
        [key] = store.scan_iter(match="ledger:cache:*:product:*")
        assert orjson.loads(store.get(key) or b"") == first.json()
        # Mark the body in Redis: the same worker still answers from its own memory...
        marked = first.json()
        marked["data"]["name"] = "served from the cache"
        store.set(key, orjson.dumps(marked), keepttl=True)
        again = client.get(path)
        assert again.json() == first.json()
        assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]
        # ...and another worker, with nothing in memory yet, answers from Redis.
        other = make_client(redis_url=redis_url, ledger_consistency_timeout=5)
        wait_until(lambda: other.app.state.api.positions.connected, 10, "the positions")
        assert other.get(path).json()["data"]["name"] == "served from the cache"

        changed = client.patch(path, json={"price": "12.00"}, headers=admin)
        assert changed.status_code == 200, changed.text
        position = changed.headers["X-Ledger-Position"]
        with_token = client.get(path, headers={"X-Ledger-Consistency": position})
        plain = client.get(path)
        for response in (with_token, plain):
            assert response.status_code == 200
            assert response.json()["data"]["price"] == "12.00"
            assert response.json()["data"]["name"] != "served from the cache"
            assert "X-Ledger-Stale" not in response.headers
        # The new read is cached under the new position, beside the old entry.
        assert len(list(store.scan_iter(match="ledger:cache:*:product:*"))) == 2
    store.close()


def test_a_write_to_one_product_keeps_the_cached_detail_of_another(
    make_client: MakeClient, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    store = redis.Redis.from_url(redis_url)
    with projector(database_url, tmp_path):
        client = make_client(redis_url=redis_url, ledger_consistency_timeout=5)
        admin = admin_headers(client, database_url)
        ids = []
        for _ in range(2):
            created = client.post("/api/v1/products", json=product_body(), headers=admin)
            assert created.status_code == 201, created.text
            ids.append(created.json()["data"]["id"])
        written, other = ids
        before = set(store.scan_iter(match="ledger:cache:*:product:*"))
        first = client.get(f"/api/v1/products/{other}")
        assert first.status_code == 200
        [key] = set(store.scan_iter(match="ledger:cache:*:product:*")) - before
        marked = first.json()
        marked["data"]["name"] = "served from the cache"
        store.set(key, orjson.dumps(marked), keepttl=True)

        stock = {"delta": 5, "reason": "received"}
        changed = client.post(f"/api/v1/products/{written}/stock", json=stock, headers=admin)
        assert changed.status_code == 200, changed.text
        # The products projection moved on, but `other`'s row did not: a worker with nothing in
        # memory still finds its entry in Redis...
        fresh = make_client(redis_url=redis_url, ledger_consistency_timeout=5)
        wait_until(lambda: fresh.app.state.api.positions.connected, 10, "the positions")
        assert fresh.get(f"/api/v1/products/{other}").json()["data"]["name"] == (
            "served from the cache"
        )
        # ...while the written product is read anew, with its write.
        assert fresh.get(f"/api/v1/products/{written}").json()["data"]["on_hand"] == 55
    store.close()
