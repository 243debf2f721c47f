"""Changing a read model while the ledger runs (issue #13).

A migration adds a column to a read table, then `ledger projections rebuild orders products`
swaps in new relations. The API's read connections have prepared their queries by then (psycopg
prepares a statement after a few runs); not one read may fail, before, during or after the
change. And the whole workflow of docs/architecture.md, "Changing a read model": the next
release's migration, its projector beside today's, its rebuild, today's projector gone, under
reads and writes: no failed request, and the new column filled on every row."""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from tests import next_release
from tests.api_steps import register_and_login, sign_in_admin
from tests.data import auth, order_body
from tests.processes import stop, wait_until
from tests.projector_process import caught_up, run_cli, start_projector
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


@dataclass
class Writer:
    """Places orders through the API and reads each one back with its consistency token, in
    a loop; remembers what it placed."""

    stack: LedgerStack
    token: str
    product_ids: list[str]
    placed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Writer:
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)

    def wait_for(self, orders: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        target = len(self.placed) + orders
        while len(self.placed) < target:
            assert time.monotonic() < deadline, f"the writer placed {len(self.placed)} only"
            time.sleep(0.05)

    def _run(self) -> None:
        with self.stack.client(timeout=30) as client:
            for turn in itertools.count():
                if self._stop.is_set():
                    return
                product = self.product_ids[turn % len(self.product_ids)]
                try:
                    self._place(client, product, quantity=turn % 3 + 1)
                except httpx.HTTPError as exc:
                    self.failures.append(f"order {turn}: {exc!r}")

    def _place(self, client: httpx.Client, product: str, quantity: int) -> None:
        body = order_body(product, quantity)
        placed = client.post("/orders", json=body, headers=auth(self.token))
        if placed.status_code != 201:
            self.failures.append(f"POST /orders: {placed.status_code} {placed.text[:300]}")
            return
        order = str(placed.json()["data"]["id"])
        token = {**auth(self.token), "X-Ledger-Consistency": placed.headers["X-Ledger-Position"]}
        read = client.get(f"/orders/{order}", headers=token)
        if read.status_code != 200 or read.headers.get("X-Ledger-Stale"):
            self.failures.append(f"GET /orders/{order}: {read.status_code} {read.text[:300]}")
        self.placed.append(order)


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


def test_a_read_model_version_built_beside_the_old_one_under_load(
    start_stack: StartStack,
) -> None:
    """docs/architecture.md, "Changing a read model", while customers read and order: the
    migration, the next release's projector (standing by for orders), its rebuild (readers
    switch at the swap; today's projector stands by from then on), today's projector gone."""
    with start_stack("read-model-version") as stack:
        admin = sign_in_admin(stack)
        with stack.client(timeout=30) as client:
            products = [create_product(client, admin, stock=100_000) for _ in range(2)]
            _, customer = register_and_login(client)
            first = client.post("/orders", json=order_body(products[0], 2), headers=auth(customer))
            assert first.status_code == 201, first.text
        reader = Reader(stack, customer, [str(first.json()["data"]["id"])], products).start()
        writer = Writer(stack, customer, products).start()
        url, workdir = stack.database_url, stack.workdir
        next_projector = None
        try:
            reader.wait_for(WARM_READS)
            writer.wait_for(10)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(next_release.ADD_COLUMN)
            next_projector = start_projector(url, workdir, cli=next_release.CLI)
            writer.wait_for(10)
            rebuilt = run_cli(
                url, workdir, "projections", "rebuild", "orders", cli=next_release.CLI
            )
            writer.wait_for(10)
            assert stack.projector is not None
            stop(stack.projector)  # the deploy is done: today's release goes
            writer.wait_for(10)
            reader.wait_for(WARM_READS)
        finally:
            writer.stop()
            reader.stop()
        try:
            wait_until(caught_up(url), timeout=30, what="the next release's projector")
            with psycopg.connect(url) as conn:
                rows = conn.execute(
                    "SELECT o.id, o.item_count, (SELECT sum(quantity) FROM order_items i "
                    "WHERE i.order_id = o.id) FROM orders o"
                ).fetchall()
                version = conn.execute(
                    "SELECT version FROM projection_positions WHERE name = 'orders'"
                ).fetchone()
        finally:
            if next_projector is not None:
                stop(next_projector)

        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert "orders" in rebuilt.stdout
        failures = writer.failures + reader.failures
        assert failures == [], f"{len(failures)} failed: {failures[:3]}"
        assert len(writer.placed) >= 40
        assert len(rows) == 1 + len(writer.placed)
        unfilled = [(order, count, items) for order, count, items in rows if count != items]
        assert unfilled == [], f"{len(unfilled)} of {len(rows)} orders without their item count"
        assert version == (2,)
        assert "projector standing by" in stack.logs(), "today's projector handed orders over"


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
