"""Helpers for the projection tests: `ledger projector run` as a real subprocess, read-table
snapshots to compare live tables with a rebuild, and a few commands that make histories."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ledger.application import Ledger
from ledger.commands import ChangeOrderStatus, CreateProduct, OrderItemRequest, PlaceOrder
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS, resolve
from tests.data import SHIPPING_ADDRESS
from tests.processes import cli_env, spawn_cli, stop

# Every read table, with the columns that order its rows (its primary key).
READ_TABLES: dict[str, str] = {
    "products": "id",
    "users": "id",
    "orders": "id",
    "order_items": "order_id, line_no",
    "order_status_history": "order_id, version",
    "inventory": "product_id",
    "sales_orders": "order_id",
    "sales_lines": "order_id, line_no",
    "event_history": "position, part",
}
# Arguments each transition needs, beyond the order and the actor.
TRANSITION_ARGS: dict[str, dict[str, str]] = {
    "confirm": {"payment_intent_id": "pi_test"},
    "process": {},
    "ship": {"carrier": "UPS", "tracking_number": "1Z999"},
    "deliver": {},
    "cancel": {"reason": "changed my mind"},
    "refund": {"reason": "broken"},
}

Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(url: str) -> Snapshot:
    """Every read table's rows, in key order."""
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(
                f"SELECT * FROM {table} ORDER BY {order}"  # noqa: S608 - constant names
            ).fetchall()
            for table, order in READ_TABLES.items()
        }


def rebuilt_snapshot(url: str) -> Snapshot:
    """Rebuilds every projection from the store and returns the tables it produced."""
    for projection in resolve(list(PROJECTIONS)):
        rebuild(url, projection)
    return snapshot(url)


def report(url: str, query: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Runs one of the API's report queries (`reads.reports`, the API's and the CLI's) on `url`."""

    async def go() -> Any:
        async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
            return await query(conn, *args)

    return asyncio.run(go())


def positions(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT name, position FROM projection_positions").fetchall()
    return {name: int(position) for name, position in rows}


def head(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM ledger_events")
        return int(row.fetchone()[0])  # type: ignore[index]


def create_product(ledger: Ledger, product_id: str, *, stock: int = 100, price: int = 250) -> None:
    ledger.create_product(
        CreateProduct(
            name=f"Product {product_id}",
            description="for the tests",
            price=price,
            category="tests",
            tags=("a", "b"),
            stock=stock,
            product_id=product_id,
        )
    )


def place_order(
    ledger: Ledger, order_id: str, items: dict[str, int], customer: str = "usr_buyer"
) -> None:
    ledger.place_order(
        PlaceOrder(
            customer_id=customer,
            items=tuple(OrderItemRequest(p, q) for p, q in items.items()),
            shipping_address=SHIPPING_ADDRESS,
            payment_method="card",
            order_id=order_id,
        )
    )


def transition(ledger: Ledger, order_id: str, name: str, actor: str = "usr_admin") -> None:
    ledger.change_order_status(
        ChangeOrderStatus(order_id=order_id, transition=name, actor=actor, **TRANSITION_ARGS[name])
    )


def caught_up(url: str, names: list[str] | None = None) -> Callable[[], bool]:
    """A condition: the named projections (all by default) have reached the store's head."""

    def check() -> bool:
        target = head(url)
        at = positions(url)
        return all(at.get(name, 0) >= target for name in names or PROJECTIONS)

    return check


def start_projector(
    url: str,
    workdir: Path,
    names: tuple[str, ...] = (),
    *,
    batch_size: int | None = None,
    poll_seconds: float = 0.2,
    cli: str = "ledger_cli.main",
) -> subprocess.Popen[bytes]:
    """Starts `ledger projector run` (of module `cli`: another release) against `url`; its
    output goes to a log in `workdir`."""
    args = ["projector", "run", *names]
    args += ["--metrics-port", "0", "--poll-seconds", str(poll_seconds)]
    if batch_size is not None:
        args += ["--batch-size", str(batch_size)]
    log = workdir / f"projector-{time.monotonic_ns()}.log"
    # The working folder is the test's own, so no `.env` of the checkout leaks in.
    return spawn_cli(args, cli_env(url, workdir), log, cwd=workdir, cli=cli)


def run_cli(
    url: str, workdir: Path, *args: str, cli: str = "ledger_cli.main"
) -> subprocess.CompletedProcess[str]:
    """Runs one `ledger ...` command (of module `cli`: another release) to completion,
    capturing its output (not a terminal)."""
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", cli, *args],
        env=cli_env(url, workdir),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def projector(
    url: str, workdir: Path, names: tuple[str, ...] = (), **options: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """A running projector for the duration of the block, stopped with SIGTERM afterwards."""
    process = start_projector(url, workdir, names, **options)
    try:
        yield process
    finally:
        stop(process)


def copy_event(
    url: str,
    source: tuple[str, int],
    target: tuple[str, int],
    drop: tuple[str, ...] = (),
    put: dict[str, Any] | None = None,
) -> int:
    """Appends a copy of a stored event under another aggregate id and version, with fields
    dropped or replaced, by plain SQL (the sequence default gives it the next position)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO ledger_events (originator_id, originator_version, topic, state) "
            "SELECT %s, %s, topic, convert_to("
            "((convert_from(state, 'UTF8')::jsonb - %s::text[]) || %s)::text, 'UTF8') "
            "FROM ledger_events WHERE originator_id = %s AND originator_version = %s "
            "RETURNING notification_id",
            (*target, list(drop), Jsonb(put or {}), *source),
        ).fetchone()
    assert row is not None
    return int(row[0])


def fix_event(url: str, position: int, put: dict[str, Any]) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE ledger_events SET state = convert_to("
            "(convert_from(state, 'UTF8')::jsonb || %s)::text, 'UTF8') "
            "WHERE notification_id = %s",
            (Jsonb(put), position),
        )
