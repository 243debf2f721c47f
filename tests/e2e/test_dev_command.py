"""`ledger dev`, the main job: one command brings up a migrated store with the demo catalog,
a Redis server under the data folder (or the configured one), one API worker per core and
every projector, sharing state as production processes do; Ctrl-C stops all of it. (Two
`ledger dev` sharing one Redis: tests/integration/test_embedded_redis.py.)"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from tests.api_steps import register_and_login
from tests.data import ADDRESS, auth
from tests.processes import START_TIMEOUT, free_port

# A console log line at warning level: the only level `ledger dev` shows by default.
WARNING = re.compile(r"^\S+Z \[warning\s*\] ")
# The cores a `ledger dev` may run on here, so that its default (one worker per core) is known.
CORES = 2
pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < CORES,
    reason=f"needs {CORES} cores and sched_setaffinity (Linux)",
)


def test_dev_uses_every_core_and_its_own_redis_then_stops_cleanly(
    make_database: Callable[[], str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    stale = _leave_a_stale_redis(data / "redis")
    port = free_port()
    env = _env(_fresh_database(make_database), data)
    with _dev(["--port", str(port)], env, tmp_path / "dev.log") as dev:
        # For a person: the seed line, then the banner, last and whole; no log lines, no line
        # per request (LEDGER_REQUEST_LOG / --request-log turn those on).
        assert dev.lines == [
            "demo catalog loaded: 50 products",
            "ledger running",
            f"  API      http://127.0.0.1:{port}/api/v1 ({CORES} workers)",
            f"  docs     http://127.0.0.1:{port}/docs",
            f"  metrics  http://127.0.0.1:{port}/metrics",
            "  database DATABASE_URL",
            f"  redis    {data / 'redis' / 'redis.sock'} (started)",
            "Ctrl-C stops everything.",
        ]
        processes = _descendants(dev.process.pid)
        workers = [pid for pid, cmd in processes.items() if "multiprocessing.spawn" in cmd]
        assert len(workers) == CORES, processes
        (redis_pid,) = [pid for pid, cmd in processes.items() if "redis-server" in cmd]
        assert redis_pid != stale
        assert Path(f"/proc/{redis_pid}/cwd").resolve() == (data / "redis").resolve()
        assert redis.Redis(unix_socket_path=str(data / "redis" / "redis.sock")).ping()
        _every_worker_serves_the_others_writes(f"http://127.0.0.1:{port}", data, workers)
        dev.interrupt()
    assert not set(processes) & _alive_pids(), "processes outlived ledger dev"
    assert not (data / "redis" / "redis.sock").exists()
    assert not list(data.glob("metrics-*"))
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_dev_uses_the_configured_redis_and_starts_none(
    make_database: Callable[[], str], redis_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = {**_env(_fresh_database(make_database), data), "REDIS_URL": redis_url}
    env["LEDGER_WORKERS"] = "1"
    with _dev(["--port", str(free_port()), "--no-demo"], env, tmp_path / "dev.log") as dev:
        assert dev.lines[1].endswith("/api/v1 (1 worker)"), dev.lines
        assert "  redis    REDIS_URL" in dev.lines
        processes = _descendants(dev.process.pid)
        assert not [cmd for cmd in processes.values() if "redis-server" in cmd], processes
        assert not (data / "redis").exists()
        dev.terminate()
    assert not set(processes) & _alive_pids()


def _every_worker_serves_the_others_writes(base: str, data: Path, workers: list[int]) -> None:
    """A write on one worker is seen by reads on all of them, and each has served some."""
    # A new connection per request: the kernel hands each to whichever worker accepts first.
    fresh = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=f"{base}/api/v1", timeout=30, limits=fresh) as client:
        before = _product_on_many_connections(client, "prod_1")
        assert before[0]["price"] == "29.99"
        _, token = register_and_login(client)
        order = {
            "items": [{"product_id": "prod_1", "quantity": 3}],
            "shipping_address": ADDRESS,
            "payment_method": "stripe",
        }
        placed = client.post("/orders", json=order, headers=auth(token))
        assert placed.status_code == 201, placed.text
        after = _product_on_many_connections(client, "prod_1")
        assert {p["reserved"] for p in after} == {before[0]["reserved"] + 3}, after
        (metrics,) = data.glob("metrics-*")
        deadline = time.monotonic() + 30
        while not all(_requests_served(metrics, pid) for pid in workers):
            served = {pid: _requests_served(metrics, pid) for pid in workers}
            assert time.monotonic() < deadline, f"requests served by each worker: {served}"
            _product_on_many_connections(client, "prod_2")
    assert "http_requests_total" in httpx.get(f"{base}/metrics", timeout=10).text


def _fresh_database(make_database: Callable[[], str]) -> str:
    database_url = make_database()
    with psycopg.connect(database_url, autocommit=True) as conn:
        # A brand-new database: nothing migrated, nothing stored.
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return database_url


def _env(database_url: str, data: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LEDGER_DATA_DIR": str(data),
        "LEDGER_ENV": "development",
    }
    for variable in (
        "REDIS_URL", "LOG_LEVEL", "LEDGER_REQUEST_LOG", "LEDGER_WORKERS",
        "LEDGER_DB_POOL_SIZE", "PROMETHEUS_MULTIPROC_DIR",
    ):  # fmt: skip
        env.pop(variable, None)
    return env


def _leave_a_stale_redis(folder: Path) -> int:
    """What a `ledger dev` killed with SIGKILL after its Redis died leaves: a socket nobody
    listens on, a pid file and a list of users naming processes that are gone. The pid."""
    folder.mkdir(parents=True)
    gone = subprocess.Popen(["true"])  # noqa: S607 - a process that exits at once
    gone.wait()
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(folder / "redis.sock"))
    (folder / "redis.pid").write_text(f"{gone.pid}\n")
    (folder / "users").write_text(f"{gone.pid}\n")
    return gone.pid


@dataclass
class RunningDev:
    process: subprocess.Popen[bytes]
    log: Path
    # What it printed up to its banner, but warnings: a loaded machine makes `slow query` ones.
    lines: list[str] = field(default_factory=list)

    def interrupt(self) -> None:
        """Ctrl-C, as a terminal sends it: to the whole process group."""
        self._stopped_by(lambda: os.killpg(self.process.pid, signal.SIGINT))

    def terminate(self) -> None:
        """SIGTERM, as a service manager sends it: to `ledger dev` alone."""
        self._stopped_by(self.process.terminate)

    def _stopped_by(self, send: Callable[[], None]) -> None:
        send()
        assert self.process.wait(timeout=30) == 0, self.log.read_text()
        assert self.log.read_text().rstrip().endswith("ledger stopped"), self.log.read_text()


@contextlib.contextmanager
def _dev(args: list[str], env: dict[str, str], log: Path) -> Iterator[RunningDev]:
    """`ledger dev ARGS` in a session of its own (a terminal's process group), on CORES
    cores, once it has printed its banner; stopped at the end if the test did not."""
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [sys.executable, "-m", "ledger_cli.main", "dev", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # Long before it counts its cores (after its imports and migrations); what it starts inherits.
    os.sched_setaffinity(process.pid, sorted(os.sched_getaffinity(0))[:CORES])
    dev = RunningDev(process, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "Ctrl-C stops everything." not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        time.sleep(1.5)  # time for any late line from the children to arrive
        printed = log.read_text().splitlines()
        dev.lines = [line for line in printed if line.strip() and not WARNING.match(line)]
        assert dev.lines, log.read_text()
        assert dev.lines[-1] == "Ctrl-C stops everything.", dev.lines
        yield dev
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=30)


def _product_on_many_connections(client: httpx.Client, product_id: str) -> list[dict[str, str]]:
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: client.get(f"/products/{product_id}"), range(24)))
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    return [r.json()["data"] for r in responses]


def _requests_served(metrics: Path, pid: int) -> float:
    """The HTTP requests worker `pid` has counted, from its own file of samples alone."""
    samples = metrics / f"counter_{pid}.db"  # made at the worker's first request
    if not samples.exists():
        return 0
    with tempfile.TemporaryDirectory() as alone:
        shutil.copy(samples, alone)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=alone)  # type: ignore[no-untyped-call]
        return sum(
            sample.value
            for family in registry.collect()
            for sample in family.samples
            if sample.name == "http_requests_total"
        )


def _descendants(root: int) -> dict[int, str]:
    """Every process under `root`, by pid: its command line."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid …": comm may hold spaces, so split after its ")".
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = _command_line(pid)
                frontier.append(pid)
    return found


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive_pids() -> set[int]:
    """Processes that exist and are not zombies."""
    alive = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
                alive.add(int(stat.parent.name))
        except (OSError, IndexError):
            continue
    return alive
