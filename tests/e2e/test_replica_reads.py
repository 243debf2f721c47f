"""The ledger on a primary and a real streaming replica (tests/replica.py, commits applied
300 ms late), with two API processes and every projector: hundreds of write-then-read pairs,
each read on the other process, never read stale data; catalog reads with nothing to wait for
are served by the replica; a replica killed mid-run costs no error, reads move to the primary
within the failover time printed, and come back once it restarts.

Repeat the figures with `pytest -s tests/e2e/test_replica_reads.py`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.api_steps import customer_token, sign_in_admin
from tests.data import auth, order_body
from tests.processes import redis_database, wait_until
from tests.replica import ReplicatedPostgres
from tests.servers import LedgerStack, create_product, ledger_stack

PAIRS = 300
# Every this many pairs, the read waits until the replica could have the write: the
# replica then serves the client's own write (the cookie's position reached).
LATE_READ_EVERY = 10
LATE_READ_SECONDS = 0.8
REPLICA_SHARE_AT_LEAST = 0.8
RETURN_WITHIN_SECONDS = 15.0


@pytest.fixture(scope="module")
def replicated() -> Iterator[ReplicatedPostgres]:
    servers = ReplicatedPostgres(apply_delay_ms=300)
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture(scope="module")
def stack(
    replicated: ReplicatedPostgres,
    redis_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LedgerStack]:
    workdir: Path = tmp_path_factory.mktemp("replica-stack")
    redis_url = redis_database(redis_server_url)
    with ledger_stack(
        replicated.primary_url, redis_url, workdir, DATABASE_REPLICA_URL=replicated.replica_url
    ) as running:
        yield running


def read_from(response: httpx.Response) -> str:
    return response.headers["X-Ledger-Read-From"]


def test_writes_then_reads_across_processes_are_never_stale(stack: LedgerStack) -> None:
    admin = sign_in_admin(stack)
    with stack.client() as client, stack.client() as anonymous:
        buyer = customer_token(client)
        product = create_product(client, admin, stock=100_000)
        stale: list[str] = []
        sources: dict[str, int] = {}
        late_on_replica = 0
        catalog_sources: list[str] = []
        for number in range(PAIRS):
            late = number % LATE_READ_EVERY == 0
            if number % 2:
                price = f"{10 + number % 90}.{number % 100:02d}"
                write = client.patch(
                    f"/products/{product}", json={"price": price}, headers=auth(admin)
                )
                assert write.status_code == 200, write.text
                time.sleep(LATE_READ_SECONDS if late else 0)
                read = client.get(f"/products/{product}")
                assert read.status_code == 200, read.text
                if Decimal(read.json()["data"]["price"]) != Decimal(price):
                    stale.append(
                        f"pair {number}: price {read.json()['data']['price']}, not {price}"
                    )
            else:
                write = client.post("/orders", json=order_body(product), headers=auth(buyer))
                assert write.status_code == 201, write.text
                order = write.json()["data"]["id"]
                time.sleep(LATE_READ_SECONDS if late else 0)
                read = client.get(f"/orders/{order}", headers=auth(buyer))
                if read.status_code != 200:
                    stale.append(f"pair {number}: order {order} answered {read.status_code}")
            sources[read_from(read)] = sources.get(read_from(read), 0) + 1
            late_on_replica += late and read_from(read) == "replica"
            # A reader that never wrote: nothing to wait for, the replica's to serve.
            browse = anonymous.get("/products", params={"page_size": 5, "page": 1 + number % 3})
            assert browse.status_code == 200, browse.text
            catalog_sources.append(read_from(browse))
    share = catalog_sources.count("replica") / len(catalog_sources)
    print(
        f"\nreplica reads: {PAIRS} write-then-read pairs, {len(stale)} stale; reads after a "
        f"write from {sources}; late reads on the replica: {late_on_replica} of "
        f"{PAIRS // LATE_READ_EVERY}; catalog reads without a write to see: "
        f"{share:.0%} served by the replica ({len(catalog_sources)} reads)"
    )
    assert stale == []
    assert share >= REPLICA_SHARE_AT_LEAST
    assert late_on_replica > 0  # the replica serves a client's own write once it has it


@dataclass
class Reader:
    """Catalog reads in a loop on both processes, each answer's time, status and source."""

    stack: LedgerStack
    answers: list[tuple[float, int, str]] = field(default_factory=list)
    slowest: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Reader:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        with self.stack.client(timeout=30) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                response = client.get("/products", params={"page_size": 5})
                source = response.headers.get("X-Ledger-Read-From", "")
                self.answers.append((time.monotonic(), response.status_code, source))
                self.slowest = max(self.slowest, time.monotonic() - sent)
                time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)

    def since(self, moment: float) -> list[tuple[float, int, str]]:
        return [answer for answer in self.answers if answer[0] >= moment]


def test_a_killed_replica_is_routed_around_and_used_again(
    stack: LedgerStack, replicated: ReplicatedPostgres
) -> None:
    reader = Reader(stack).start()
    try:
        wait_until(lambda: any(a[2] == "replica" for a in reader.answers), 30, "replica reads")
        killed_at = time.monotonic()
        replicated.kill_replica()
        time.sleep(3)
        back_at = time.monotonic()
        replicated.start_replica()
        wait_until(
            lambda: any(a[2] == "replica" for a in reader.since(back_at)),
            RETURN_WITHIN_SECONDS + 60,
            "reads to return to the replica",
        )
        returned = min(a[0] for a in reader.since(back_at) if a[2] == "replica") - back_at
        time.sleep(0.5)
    finally:
        reader.stop()
    during = [a for a in reader.answers if killed_at <= a[0] < back_at]
    on_replica_after_kill = [a[0] for a in during if a[2] == "replica"]
    failover = (max(on_replica_after_kill) - killed_at) if on_replica_after_kill else 0.0
    first_primary = min(a[0] for a in during if a[2] == "primary") - killed_at
    errors = [a for a in reader.answers if a[1] >= 500]
    print(
        f"\nreplica failover: {len(reader.answers)} catalog reads, {len(errors)} 5xx; the "
        f"last replica answer {failover:.3f} s after the kill, the first primary answer "
        f"{first_primary:.3f} s after it; back on the replica {returned:.2f} s after its "
        f"restart (pg_ctl start returned); the slowest read took {reader.slowest:.3f} s"
    )
    assert errors == []
    assert all(a[1] == 200 for a in reader.answers)
    assert failover < 2.0
    assert returned < RETURN_WITHIN_SECONDS
