"""Two projector processes on one store, as two hosts would run them: one holds every
projection's lease (`ledger projections status` names it by host and pid), the other stands
by. SIGKILL the holder under an order load: the other holds every lease within 10 s (the
takeover time is printed), and once caught up every read table equals a rebuild, so no event
was skipped or applied twice.

Repeat the figure with `pytest -s tests/reliability/test_projector_failover.py`."""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from projections.registry import PROJECTIONS
from projections.status import read_status
from tests.api_steps import customer_token, sign_in_admin
from tests.processes import stop, wait_until
from tests.projector_process import caught_up, rebuilt_snapshot, run_cli, snapshot, start_projector
from tests.reliability.load import OrderLoad
from tests.servers import create_product, ledger_stack

TAKEOVER_WITHIN_SECONDS = 10.0

pytestmark = pytest.mark.slow


def leases(url: str) -> dict[str, str | None]:
    """Each projection's lease holder ("host:pid"), as `ledger projections status` reads it."""
    with psycopg.connect(url) as conn:
        return {status.name: status.lease for status in read_status(conn)}


def held_by(url: str, pid: int) -> Callable[[], bool]:
    holder = f"{socket.gethostname()}:{pid}"
    return lambda: set(leases(url).values()) == {holder}


def test_the_standby_takes_every_lease_within_10_s_of_a_sigkill(
    make_database: Callable[[], str], redis_url: str, tmp_path: Path
) -> None:
    url = make_database()
    with ledger_stack(url, redis_url, tmp_path) as stack:
        assert stack.projector is not None
        leader = stack.projector
        wait_until(held_by(url, leader.pid), 30, "the first projector to hold every lease")
        standby = start_projector(url, tmp_path, poll_seconds=0.2)
        try:
            admin = sign_in_admin(stack)
            with stack.client(timeout=30) as client:
                product = create_product(client, admin, stock=100_000)
                buyer = customer_token(client)
            shown = run_cli(url, tmp_path, "projections", "status", "--json")
            assert shown.returncode == 0, shown.stderr
            holders = {row["name"]: row["lease"] for row in json.loads(shown.stdout)}
            assert holders == dict.fromkeys(PROJECTIONS, f"{socket.gethostname()}:{leader.pid}")

            load = OrderLoad(stack, buyer, product).start()
            try:
                time.sleep(1.0)
                killed_at = time.monotonic()
                stop(leader, signal.SIGKILL)
                wait_until(held_by(url, standby.pid), 30, "the standby to hold every lease")
                takeover = time.monotonic() - killed_at
                time.sleep(1.0)  # orders placed while the standby leads
            finally:
                load.stop()
            wait_until(caught_up(url), 60, "the standby to catch up")
            stack.close()
        finally:
            stop(standby)

    acknowledged = set(load.acknowledged)
    print(
        f"\nprojector failover: every lease taken over {takeover:.2f} s after the SIGKILL of "
        f"pid {leader.pid} (standby pid {standby.pid}); "
        f"{len(acknowledged)} orders acknowledged"
    )
    assert takeover < TAKEOVER_WITHIN_SECONDS
    assert acknowledged
    live = snapshot(url)
    assert {row[0] for row in live["orders"]} == acknowledged
    assert rebuilt_snapshot(url) == live
