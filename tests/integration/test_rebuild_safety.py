"""Rebuilds are safe to run by anyone (issue #11, defects 5 and 6).

One rebuild per projection at a time, across processes and hosts: a second one is refused
with one line and exit 1, and never drops the shadow tables under the first (which then
swapped a half-filled table in). And a swap behind a long reader (a pg_dump, a session idle
in transaction) waits at most its lock timeout per attempt, so the readers queued behind it
never stall, and retries until the reader has gone; each swap bumps the projection's
generation."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

import projections
from ledger.application import Ledger
from projections.products import ProductsProjection
from projections.rebuild import SHADOW, Progress, rebuild
from projections.registry import resolve
from tests.processes import cli_env, wait_until
from tests.projector_process import create_product, place_order

ORDERS = 300
# A reader of the live table must never wait longer than this during a swap.
READER_BUDGET_SECONDS = 0.5
# Longer than any swap attempt: a reader that waits this long waits for the long reader.
READER_STATEMENT_TIMEOUT = "2s"


def _seed_orders(ledger: Ledger, url: str, count: int = ORDERS) -> None:
    create_product(ledger, "prod_a", stock=10 * count)
    for n in range(count):
        place_order(ledger, f"ord_{n:04d}", {"prod_a": 1})
    projections.catch_up(url)


def _scalar(url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def _generation(url: str, name: str) -> int:
    return int(_scalar(url, "SELECT generation FROM projection_positions WHERE name = %s", name))


def _shadow_exists(url: str, table: str) -> bool:
    return _scalar(url, "SELECT to_regclass(%s) IS NOT NULL", table + SHADOW) is True


def _hold_long_reader(url: str, table: str) -> psycopg.Connection[Any]:
    """A session idle in transaction that holds ACCESS SHARE on `table` (as a pg_dump does)."""
    conn = psycopg.connect(url)
    conn.execute(f"SELECT 1 FROM {table} LIMIT 1")  # noqa: S608 - a constant name
    return conn


def _start_cli(url: str, workdir: Path, name: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "ledger_cli.main", "projections", "rebuild", *args],
        env=cli_env(url, workdir),
        cwd=workdir,
        stdout=(workdir / f"{name}.out").open("w"),
        stderr=(workdir / f"{name}.err").open("w"),
        text=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float) -> int | None:
    """The exit code, or None when the process is still running after `timeout` seconds."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def test_two_rebuilds_of_orders_at_once_keep_every_order_and_the_second_is_refused(
    ledger: Ledger, database_url: str
) -> None:
    """The interleaving that lost orders: the second rebuild starts while the first is
    filling its shadow tables (it recreated them, half-filled them, and the first swapped
    them in)."""
    url = database_url
    _seed_orders(ledger, url)
    orders = resolve(["orders"])[0]
    second_paused, release_second = threading.Event(), threading.Event()
    outcomes: dict[str, BaseException | None] = {}

    def second_progress(_: Progress) -> None:
        second_paused.set()  # the second has recreated and begun to fill the shadow
        release_second.wait(timeout=60)

    def run_second() -> None:
        try:
            rebuild(url, orders, progress=second_progress, batch_size=1)
            outcomes["second"] = None
        except BaseException as exc:
            outcomes["second"] = exc

    second = threading.Thread(target=run_second)

    def first_progress(_: Progress) -> None:
        if second.ident is None:  # after the first's first batch: start the second
            second.start()
            wait_until(lambda: second_paused.is_set() or not second.is_alive(), 30, "second")

    try:
        rebuild(url, orders, progress=first_progress, batch_size=50)
        outcomes["first"] = None
    except BaseException as exc:
        outcomes["first"] = exc
    finally:
        release_second.set()
        if second.ident is not None:
            second.join(timeout=60)

    assert outcomes["first"] is None, outcomes["first"]
    assert _scalar(url, "SELECT count(*) FROM orders") == ORDERS
    assert _scalar(url, "SELECT count(*) FROM order_items") == ORDERS
    refusal = outcomes.get("second")
    assert refusal is not None, "the second rebuild was not refused"
    assert str(refusal).startswith("a rebuild of orders is already running"), refusal
    assert _generation(url, "orders") == 1  # one swap


def test_a_second_rebuild_command_is_refused_with_one_line_and_exit_1(
    ledger: Ledger, database_url: str, tmp_path: Path
) -> None:
    """Two `ledger projections rebuild orders` at once (the first held at its swap by a long
    reader of orders, so they overlap): the second, and a `--all`, refuse at once; the first
    completes with every order once the reader has gone."""
    url = database_url
    _seed_orders(ledger, url)
    reader = _hold_long_reader(url, "orders")
    first = second = every = None
    try:
        first = _start_cli(url, tmp_path, "first", "orders")
        wait_until(
            lambda: _scalar(
                url, "SELECT rebuild_started_at IS NOT NULL FROM projection_positions "
                "WHERE name = 'orders'"
            ) is True or first.poll() is not None,
            timeout=60, what="the first rebuild to start",
        )  # fmt: skip
        assert first.poll() is None, (tmp_path / "first.err").read_text()
        second = _start_cli(url, tmp_path, "second", "orders")
        second_code = _finish(second, timeout=20)
        every = _start_cli(url, tmp_path, "all", "--all")
        all_code = _finish(every, timeout=20)
    finally:
        reader.commit()
        reader.close()
        codes = [_finish(p, timeout=60) for p in (first, second, every) if p is not None]
    assert codes[0] == 0, (tmp_path / "first.err").read_text()

    assert second_code == 1, "the second rebuild was not refused"
    assert (tmp_path / "second.out").read_text() == ""
    lines = (tmp_path / "second.err").read_text().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("ledger: a rebuild of orders is already running ("), lines
    assert "Traceback" not in lines[0]

    assert all_code == 1, "the --all rebuild was not refused"
    all_lines = (tmp_path / "all.err").read_text().splitlines()
    assert len(all_lines) == 1, all_lines
    assert all_lines[0].startswith("ledger: a rebuild of orders is already running ("), all_lines
    assert (tmp_path / "all.out").read_text() == ""

    assert _scalar(url, "SELECT count(*) FROM orders") == ORDERS
    assert _generation(url, "orders") == 1
    assert _generation(url, "products") == 0  # the refused --all rebuilt nothing


def _keep_reading(
    url: str, stop: threading.Event, waits: list[float], counts: list[int], errors: list[str]
) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = '{READER_STATEMENT_TIMEOUT}'")
        while not stop.is_set():
            started = time.perf_counter()
            try:
                row = conn.execute("SELECT count(*) FROM products").fetchone()
            except psycopg.Error as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            finally:
                waits.append(time.perf_counter() - started)
            counts.append(int(row[0]) if row else -1)
            time.sleep(0.005)


def test_a_swap_behind_a_long_reader_keeps_reads_fast_and_completes_after_it(
    ledger: Ledger, database_url: str
) -> None:
    url = database_url
    for n in range(40):
        create_product(ledger, f"prod_{n}")
    projections.catch_up(url)
    generation = _generation(url, "products")
    stop = threading.Event()
    waits: list[float] = []
    counts: list[int] = []
    errors: list[str] = []
    outcome: dict[str, Any] = {}

    def run_rebuild() -> None:
        try:
            outcome["result"] = rebuild(url, ProductsProjection())
        except BaseException as exc:
            outcome["error"] = exc

    reader = threading.Thread(target=_keep_reading, args=(url, stop, waits, counts, errors))
    worker = threading.Thread(target=run_rebuild)
    long_reader = _hold_long_reader(url, "products")
    try:
        reader.start()
        worker.start()
        time.sleep(3)  # the fill takes milliseconds: the rest is the swap behind the reader
        assert worker.is_alive(), f"the rebuild did not wait for the long reader: {outcome}"
        waits_behind = list(waits)
        long_reader.commit()
        worker.join(timeout=30)
        assert not worker.is_alive(), "the rebuild did not complete after the long reader"
        time.sleep(0.2)
    finally:
        long_reader.rollback()
        long_reader.close()
        stop.set()
        reader.join(timeout=30)
        worker.join(timeout=30)

    assert "error" not in outcome, outcome.get("error")
    assert errors == []
    assert len(waits_behind) > 20, "the reader hardly ran while the swap waited"
    print(  # the numbers for the report (pytest -s)
        f"reads behind the swap: {len(waits_behind)}, max wait {max(waits_behind) * 1000:.0f} ms;"
        f" overall max {max(waits) * 1000:.0f} ms; swap attempts "
        f"{getattr(outcome['result'], 'swap_attempts', '?')}"
    )
    assert max(waits) < READER_BUDGET_SECONDS, f"a reader waited {max(waits):.3f} s"
    assert min(counts) == 40
    assert _generation(url, "products") == generation + 1
    assert not _shadow_exists(url, "products")


def test_a_swap_gives_up_after_its_bound_and_leaves_the_live_table(
    ledger: Ledger, database_url: str
) -> None:
    """A reader that never goes: the rebuild stops with a clear error after its bound, the
    live table and its generation untouched, the shadow cleaned up and the lock released."""
    url = database_url
    for n in range(10):
        create_product(ledger, f"prod_{n}")
    projections.catch_up(url)
    long_reader = _hold_long_reader(url, "products")
    try:
        started = time.monotonic()
        with pytest.raises(Exception, match="could not lock products") as failure:
            rebuild(url, ProductsProjection(), swap_timeout=1.5)
        elapsed = time.monotonic() - started
    finally:
        long_reader.rollback()
        long_reader.close()
    assert 1.0 < elapsed < 10, elapsed
    assert "products" in str(failure.value)
    assert _scalar(url, "SELECT count(*) FROM products") == 10
    assert _generation(url, "products") == 0
    assert not _shadow_exists(url, "products")
    started_at = "SELECT rebuild_started_at FROM projection_positions WHERE name = 'products'"
    assert _scalar(url, started_at) is None
    rebuild(url, ProductsProjection())  # the lock was released: the next attempt runs
    assert _generation(url, "products") == 1


def test_each_rebuild_bumps_only_its_own_generation(ledger: Ledger, database_url: str) -> None:
    url = database_url
    create_product(ledger, "prod_a")
    projections.catch_up(url)
    before = {p.name: _generation(url, p.name) for p in resolve(None)}
    rebuild(url, ProductsProjection())
    rebuild(url, ProductsProjection())
    after = {p.name: _generation(url, p.name) for p in resolve(None)}
    assert after == {**before, "products": before["products"] + 2}
