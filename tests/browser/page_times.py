"""How long the back office's pages take at a million events:
`python -m tests.browser.page_times URL` (URL: the database tests.browser.big_store made)
starts `ledger serve` and the projectors on it, signs in as a new admin through the sign-in
form, and times each main page as a browser asks for it (the whole server-rendered response),
reporting the median and worst of ROUNDS after a warm-up."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from bench.database import bench_settings
from ledger.application import Ledger
from ledger.commands import RegisterUser
from ledger.domain import Role
from ledger.passwords import hash_password
from tests.data import PASSWORD
from tests.processes import (
    START_TIMEOUT,
    answers,
    free_port,
    spawn_cli,
    stop,
    wait_for_projection,
    wait_until,
)

ROUNDS = 20
TARGET_MS = 300.0


def _admin(url: str) -> str:
    email = f"page-times-{time.time_ns()}@example.com"
    ledger = Ledger(bench_settings(), url, pool_size=1)
    try:
        result = ledger.register_user(
            RegisterUser(name="Timer", email=email, password_hash=hash_password(PASSWORD),
                         role=Role.ADMIN)
        )  # fmt: skip
    finally:
        ledger.close()
    wait_for_projection(url, "users", result.position, timeout=120)
    return email


def _samples(url: str) -> dict[str, str]:
    """An id of each kind with the most history, to time the heaviest detail pages."""
    with psycopg.connect(url) as conn:
        order = conn.execute(
            "SELECT id, customer_id FROM orders ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
        busy = conn.execute(
            "SELECT stream_id FROM event_history GROUP BY stream_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    assert order is not None
    assert busy is not None
    return {"order": order[0], "customer": order[1], "busiest": busy[0]}


def main(url: str) -> None:
    with psycopg.connect(url) as conn:
        events = conn.execute("SELECT max(notification_id) FROM ledger_events").fetchone()
    ids = _samples(url)
    pages = {
        "catalog": "/admin/catalog",
        "catalog search": "/admin/catalog?q=wool",
        "orders": "/admin/orders",
        "orders, status filter": "/admin/orders?status=confirmed",
        "orders, customer filter": f"/admin/orders?customer={ids['customer']}",
        "order detail": f"/admin/orders/{ids['order']}",
        "customers": "/admin/customers",
        "customer detail": f"/admin/customers/{ids['customer']}",
        "projections": "/admin/projections",
        "reports": "/admin/reports",
        f"history of {ids['busiest']}": f"/admin/history/{ids['busiest']}",
        "product detail": "/admin/catalog/prod_1",
    }
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="page-times-"))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LEDGER_ENV": "test",
        "LEDGER_SECRET_KEY": bench_settings().secret_key,
        "LEDGER_DATA_DIR": str(folder),
    }
    server = spawn_cli(["serve", "--port", str(port)], env, folder / "serve.log")
    projector = spawn_cli(["projector", "run"], env, folder / "projector.log")
    base = f"http://127.0.0.1:{port}"
    try:
        email = _admin(url)
        wait_until(answers(base, "/health", server, folder / "serve.log"), START_TIMEOUT, "serve")
        with httpx.Client(base_url=base, timeout=30) as client:
            form = client.get("/admin/login").text
            token = form.split('name="csrf" value="')[1].split('"')[0]
            signed = client.post(
                "/admin/login", data={"email": email, "password": PASSWORD, "csrf": token}
            )
            assert signed.status_code == 303, signed.text
            print(f"store: {events[0] if events else 0:,} events; {ROUNDS} rounds per page")
            print(f"{'page':40} {'median ms':>10} {'max ms':>8}")
            for name, path in pages.items():
                assert client.get(path).status_code == 200, path
                took = []
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    answer = client.get(path)
                    took.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, (path, answer.text[:300])
                median = statistics.median(took)
                verdict = "" if median < TARGET_MS else "  over 300 ms"
                print(f"{name:40} {median:10.1f} {max(took):8.1f}{verdict}", flush=True)
    finally:
        stop(server)
        stop(projector)


if __name__ == "__main__":
    main(sys.argv[1])
