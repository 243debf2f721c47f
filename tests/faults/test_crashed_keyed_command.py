"""An API process SIGKILLed while it runs a keyed command, after the command committed: the
client's retries on the other process are refused only while the dead claim's lease runs, then
answer the first order, and the store holds that one order."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from api.idempotency import LEASE_SECONDS, REPLAY_WAIT_SECONDS
from tests.api_steps import customer_token, sign_in_admin
from tests.data import auth, order_body
from tests.processes import stop, wait_until
from tests.servers import StartStack, create_product

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _placed_orders(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT originator_id FROM ledger_events WHERE topic LIKE %s", ("%OrderPlaced%",)
        ).fetchall()
    return [str(r[0]) for r in rows]


def test_a_keyed_order_whose_process_died_after_commit_is_placed_once(
    start_stack: StartStack,
) -> None:
    # A long read-your-writes wait, and no projector: the command commits, then waits.
    with start_stack("crashed-key", LEDGER_CONSISTENCY_TIMEOUT="30") as stack:
        admin = sign_in_admin(stack)
        with stack.client() as client:
            product = create_product(client, admin, stock=100)
            buyer = customer_token(client)
        stack.kill_projector()
        first_api, second_api = stack.api_urls
        headers = {**auth(buyer), "Idempotency-Key": uuid.uuid4().hex}
        body = order_body(product)

        def post(api_url: str) -> Callable[[], httpx.Response]:
            return lambda: httpx.post(f"{api_url}/orders", json=body, headers=headers, timeout=90)

        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(post(first_api))
            wait_until(lambda: len(_placed_orders(stack.database_url)) == 1, 30, "the commit")
            stop(stack.apis[0], signal.SIGKILL)
            with pytest.raises(httpx.HTTPError):
                in_flight.result()
        (placed,) = _placed_orders(stack.database_url)
        stack.start_projector()

        killed_at = time.monotonic()
        retries = []
        while True:
            answer = post(second_api)()
            retries.append(answer.status_code)
            if answer.status_code != 409:
                break
            assert time.monotonic() - killed_at < LEASE_SECONDS + REPLAY_WAIT_SECONDS + 15
        waited = time.monotonic() - killed_at

        assert answer.status_code in {201, 202}, answer.text
        assert answer.json()["data"]["id"] == placed
        assert _placed_orders(stack.database_url) == [placed]
        assert waited < LEASE_SECONDS + REPLAY_WAIT_SECONDS, (waited, retries)
        # Settled: later retries replay the stored answer on either process.
        for api_url in stack.api_urls[1:]:
            again = post(api_url)()
            assert again.headers.get("Idempotent-Replayed") == "true"
            assert again.json()["data"]["id"] == placed
