"""`ledger dev`, the main job: one command brings up a migrated store with the demo catalog,
the API and every projector, and SIGTERM stops all of it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

from tests.processes import START_TIMEOUT, free_port


def test_dev_runs_everything_and_stops_cleanly(
    make_database: Callable[[], str], tmp_path: Path
) -> None:
    database_url = make_database()
    with psycopg.connect(database_url, autocommit=True) as conn:
        # A brand-new database: nothing migrated, nothing stored.
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LEDGER_DATA_DIR": str(tmp_path / "data"),
        "LEDGER_ENV": "development",
    }
    for variable in ("REDIS_URL", "LOG_LEVEL", "LEDGER_REQUEST_LOG"):
        env.pop(variable, None)
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        dev = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [sys.executable, "-m", "ledger_cli.main", "dev", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "ledger running" not in log.read_text() and time.monotonic() < deadline:
            assert dev.poll() is None, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        assert "ledger running" in text, text
        assert f"http://127.0.0.1:{port}/docs" in text
        assert "demo catalog loaded: 50 products" in text

        base = f"http://127.0.0.1:{port}"
        # The demo catalog is served by the API through the projectors.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            product = httpx.get(f"{base}/api/v1/products/prod_1", timeout=5)
            if product.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert product.status_code == 200, product.text
        assert product.json()["data"]["price"] == "29.99"
        assert httpx.get(f"{base}/docs", timeout=5).status_code == 200
        time.sleep(1.5)  # time for any late line from the children to arrive
        # For a person: the seed line, then the banner, last and whole; no log lines, no line
        # per request (LEDGER_REQUEST_LOG / --request-log turn those on).
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        assert lines[0] == "demo catalog loaded: 50 products", lines
        assert lines[1] == "ledger running", lines
        assert lines[-1] == "Ctrl-C stops everything.", lines
        assert len(lines) == 7, lines
    finally:
        dev.send_signal(signal.SIGTERM)
        code = dev.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "ledger stopped" in log.read_text()
    # No child outlives it: the API port is closed again.
    try:
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        raise AssertionError("the API still answers after ledger dev stopped")
    except httpx.ConnectError:
        pass
