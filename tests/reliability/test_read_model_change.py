"""Changing a read model while the ledger runs (issue #13): a migration adds a column to a
read table, then `ledger projections rebuild orders products` swaps in new relations. The API's read
connections have prepared their queries by then (psycopg prepares a statement after a few
runs); not one read may fail, before, during or after the change."""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from tests.api_steps import register_and_login, sign_in_admin
from tests.data import auth, order_body
from tests.projector_process import run_cli
from tests.servers import LedgerStack, StartStack, create_product

READS = Path(__file__).parents[2] / "reads"
# `SELECT *`, `SELECT *, ...` or `o.*`: a column list the table decides.
STAR = re.compile(r"\bSELECT\s+\*|\b\w+\.\*", re.IGNORECASE)
# Enough reads before the change that every pooled connection of both API processes has
# prepared each query (psycopg's prepare_threshold is 5 runs on one connection).
WARM_READS = 120
SETTLE_SECONDS = 1.0


@dataclass
class Reader:
    """GET /orders, GET /orders/{id} (as their customer), /products/{id}, /auth/me and
    /products, in a loop."""

    stack: LedgerStack
    token: str
    order_ids: list[str]
    product_ids: list[str]
    done: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Reader:
        self._thread = threading.Thread(target=self._run, name="reader", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)

    def wait_for(self, reads: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        target = self.done + reads
        while self.done < target:
            assert time.monotonic() < deadline, f"the reader did {self.done} reads only"
            time.sleep(0.05)

    def _run(self) -> None:
        paths = [
            "/orders",
            *(f"/orders/{order}" for order in self.order_ids),
            *(f"/products/{product}" for product in self.product_ids),
            "/auth/me",
        ]
        with self.stack.client(timeout=30) as client:
            for turn in itertools.count():
                if self._stop.is_set():
                    return
                for path in paths:
                    self._get(client, path)
                # A filter new each turn: the response cache cannot answer it, the database
                # does, with the statement its connection prepared (the filter is a parameter).
                self._get(client, f"/products?min_price={turn % 900 / 100 + 0.01:.2f}")

    def _get(self, client: httpx.Client, path: str) -> None:
        try:
            response = client.get(path, headers=auth(self.token))
        except httpx.HTTPError as exc:
            self.failures.append(f"GET {path}: {exc!r}")
        else:
            if response.status_code != 200:
                self.failures.append(f"GET {path}: {response.status_code} {response.text[:300]}")
        self.done += 1


def test_reads_survive_a_new_column_and_a_rebuild(start_stack: StartStack) -> None:
    with start_stack("read-model-change") as stack:
        admin = sign_in_admin(stack)
        with stack.client(timeout=30) as client:
            products = [create_product(client, admin, stock=1_000) for _ in range(2)]
            _, customer = register_and_login(client)
            orders = []
            for product in products:
                response = client.post("/orders", json=order_body(product), headers=auth(customer))
                assert response.status_code == 201, response.text
                orders.append(str(response.json()["data"]["id"]))

        reader = Reader(stack, customer, orders, products).start()
        try:
            reader.wait_for(WARM_READS)
            assert reader.failures == []
            # As a migration would: a new column on each table the reads select from.
            with psycopg.connect(stack.database_url, autocommit=True) as conn:
                for table in ("orders", "products", "users", "inventory"):
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN note text")
            reader.wait_for(WARM_READS)
            # The products rebuild too: its new generation sends the catalog reads, answered
            # from the response cache until then, to the database again.
            rebuilt = run_cli(
                stack.database_url, stack.workdir, "projections", "rebuild", "orders", "products"
            )
            reader.wait_for(WARM_READS)
            time.sleep(SETTLE_SECONDS)
        finally:
            reader.stop()

        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        with psycopg.connect(stack.database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_name = 'orders' AND column_name = 'note'"
            ).fetchone()
        assert row == (1,), "the rebuilt orders table keeps the migration's column"
        assert reader.done > 3 * WARM_READS
        failed = sorted({failure.split(":")[0].split("?")[0] for failure in reader.failures})
        assert reader.failures == [], (
            f"{len(reader.failures)} failed ({failed}): {reader.failures[0]}"
        )


def test_no_read_query_selects_star() -> None:
    """The reads name their columns: a `*` takes the table's, which a migration changes
    under the statements the read pool prepared."""
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(READS.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if STAR.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == []
