"""PostgreSQL stops and starts again under a steady order load: the API answers 503 fast while
it is down, recovers by itself, the projectors resume, no acknowledged order is lost and every
projection equals a rebuild."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.api_steps import customer_token, sign_in_admin
from tests.data import auth
from tests.processes import wait_until
from tests.projector_process import caught_up, rebuilt_snapshot, snapshot
from tests.reliability.load import OrderLoad
from tests.servers import PostgresServer, RedisServer, create_product, ledger_stack

OUTAGE_SECONDS = 10.0
# A command meets a dead database with a 2 s pool wait, retried once.
COMMAND_FAILS_WITHIN = 6.0
# A read waits for the read pool (5 s) before giving up; readiness bounds its own check (2 s).
READ_FAILS_WITHIN = 7.0
READY_FAILS_WITHIN = 5.0
# The pools give up a reconnection after 5 s and start afresh at a one-second delay, so
# recovery does not grow with the outage's length (margin for a loaded 2-core machine).
RECOVERS_WITHIN = 20.0

pytestmark = pytest.mark.slow


def _timed_get(url: str, headers: dict[str, str]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(url, headers=headers, timeout=30)
    return response, time.monotonic() - started


def test_database_restart_mid_load_loses_no_acknowledged_order(
    own_postgres: PostgresServer, own_redis: RedisServer, tmp_path: Path
) -> None:
    with ledger_stack(own_postgres.url, own_redis.url, tmp_path) as stack:
        admin = sign_in_admin(stack)
        with stack.client(timeout=30) as client:
            product = create_product(client, admin, stock=1_000_000)
            buyer = customer_token(client)
        load = OrderLoad(stack, buyer, product).start()
        try:
            wait_until(lambda: len(load.acknowledged) >= 20, 30, "orders before the outage")
            own_postgres.stop()
            down_at = time.monotonic()
            with ThreadPoolExecutor(2) as pool:
                ready = pool.submit(_timed_get, f"{stack.base_url}/health/ready", {})
                orders = pool.submit(_timed_get, f"{stack.api_url}/orders", auth(buyer))
                time.sleep(OUTAGE_SECONDS)
                readiness, ready_seconds = ready.result()
                listing, list_seconds = orders.result()
            # The server accepts connections before start() returns: "down" ends here.
            starting_at = time.monotonic()
            own_postgres.start()
            up_at = time.monotonic()
            wait_until(lambda: load.acknowledged_since(up_at) >= 20, RECOVERS_WITHIN,
                       "orders acknowledged again after the restart")  # fmt: skip
        finally:
            load.stop()

        assert readiness.status_code == 503
        assert ready_seconds < READY_FAILS_WITHIN
        assert readiness.json()["error"]["details"]["checks"]["database"].startswith("unavailable")
        assert listing.status_code == 503
        assert list_seconds < READ_FAILS_WITHIN
        assert listing.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        during = [a for a in load.answers if down_at <= a.at and a.at + a.seconds < starting_at]
        assert during, "no request was answered while the database was down"
        assert {(a.status, a.code) for a in during} == {(503, "SERVICE_UNAVAILABLE")}
        assert max(a.seconds for a in during) < COMMAND_FAILS_WITHIN
        assert {a.status for a in load.answers} <= {201, 202, 503}, load.statuses()
        assert max(a.seconds for a in load.answers) < 2 * COMMAND_FAILS_WITHIN
        assert not load.errors, load.errors[:5]

        # Every acknowledged order is in the store, at or before the position it was
        # acknowledged with (the command's last event is a product's StockReserved).
        with psycopg.connect(own_postgres.url) as conn:
            rows = conn.execute(
                "SELECT originator_id, notification_id FROM ledger_events "
                "WHERE originator_id = ANY(%s) AND originator_version = 1",
                (list(load.acknowledged),),
            ).fetchall()
        stored: dict[str, int] = dict(rows)
        assert stored.keys() == load.acknowledged.keys()
        assert all(stored[order] <= position for order, position in load.acknowledged.items())

        # The projectors resumed by themselves and agree with a rebuild.
        wait_until(caught_up(own_postgres.url), 60, "projectors to catch up after the restart")
        wait_until(lambda: httpx.get(f"{stack.base_url}/health/ready").status_code == 200, 30,
                   "/health/ready to answer 200 again")  # fmt: skip
        stack.close()
        live = snapshot(own_postgres.url)
        assert {row[0] for row in live["orders"]} >= set(load.acknowledged)
        assert rebuilt_snapshot(own_postgres.url) == live
