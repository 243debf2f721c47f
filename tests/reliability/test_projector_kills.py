"""Projectors killed with SIGKILL again and again under an order load: once they run to the end,
every read table equals a rebuild from the store, and every acknowledged order is there."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.api_steps import customer_token, sign_in_admin
from tests.processes import wait_until
from tests.projector_process import caught_up, rebuilt_snapshot, snapshot
from tests.reliability.load import OrderLoad
from tests.servers import create_product, ledger_stack

KILLS = 6

pytestmark = pytest.mark.slow


def test_projectors_killed_repeatedly_end_equal_to_a_rebuild(
    make_database: Callable[[], str], redis_url: str, tmp_path: Path
) -> None:
    url = make_database()
    chance = random.Random(7)  # a fixed seed: the same kill rhythm on every run
    with ledger_stack(url, redis_url, tmp_path) as stack:
        admin = sign_in_admin(stack)
        with stack.client(timeout=30) as client:
            products = [create_product(client, admin, stock=100_000) for _ in range(2)]
            buyers = [customer_token(client) for _ in range(2)]
        loads = [OrderLoad(stack, b, p).start() for b, p in zip(buyers, products, strict=True)]
        try:
            for _ in range(KILLS):
                time.sleep(chance.uniform(0.3, 1.2))
                stack.kill_projector()
                stack.start_projector()
        finally:
            for load in loads:
                load.stop()
        wait_until(caught_up(url), 60, "the projectors to catch up after the last kill")
        stack.close()

    acknowledged = {order for load in loads for order in load.acknowledged}
    assert len(acknowledged) > 2 * KILLS
    assert all({a.status for a in load.answers} <= {201, 202} for load in loads)
    live = snapshot(url)
    assert {row[0] for row in live["orders"]} == acknowledged
    assert rebuilt_snapshot(url) == live
