"""End-to-end fixtures: the real API (`ledger serve`, uvicorn) and the real projectors
(`ledger projector run`) as subprocesses on a fresh database, Redis included; tests talk
HTTP to them with httpx."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from ledger.application import Ledger
from ledger.commands import RegisterUser
from ledger.domain import Role
from ledger.passwords import hash_password
from ledger.settings import Settings

PASSWORD = "SecurePass123!@#"
SECRET = "e2e-secret-" + "x" * 40
LOGIN_FAILURES_ALLOWED = 3
START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "ledger_cli.main", *args],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Stack:
    base_url: str
    database_url: str
    redis_url: str


@contextlib.contextmanager
def running_stack(database_url: str, redis_url: str, logs: Path) -> Iterator[Stack]:
    """Starts the API and every projector against `database_url`; stops them afterwards."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "LEDGER_ENV": "test",
        "LEDGER_SECRET_KEY": SECRET,
        "LEDGER_DATA_DIR": str(logs / "data"),
        "RATE_LIMIT_AUTH_PER_ADDRESS": "off",
        "RATE_LIMIT_LOGIN_PER_EMAIL": f"{LOGIN_FAILURES_ALLOWED}/hour",
        "LEDGER_CONSISTENCY_TIMEOUT": "5",
        "LOG_FORMAT": "json",
    }
    projector = _spawn(["projector", "run"], env, logs / "projector.log")
    api = _spawn(["serve", "--host", "127.0.0.1", "--port", str(port)], env, logs / "api.log")
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(base_url, api, logs)
        yield Stack(base_url, database_url, redis_url)
    finally:
        _stop(api)
        _stop(projector)


def redis_db(redis_server_url: str) -> str:
    return urlunsplit(urlsplit(redis_server_url)._replace(path=f"/{1 + os.getpid() % 15}"))


@pytest.fixture(scope="session")
def stack(
    make_database: Callable[[], str],
    redis_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The API and every projector, shared by the session, on their own database."""
    logs = tmp_path_factory.mktemp("e2e-logs")
    with running_stack(make_database(), redis_db(redis_server_url), logs) as running:
        yield running


def _wait_until_ready(base_url: str, api: subprocess.Popen[bytes], logs: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if api.poll() is not None:
            pytest.fail(f"the API exited: {(logs / 'api.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the API did not become ready: {(logs / 'api.log').read_text()[-2000:]}")


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{stack.base_url}/api/v1", timeout=30) as http:
        yield http


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register_and_login(client: httpx.Client, prefix: str = "customer") -> tuple[str, str]:
    """A new customer through the API: (user id, access token)."""
    email = unique_email(prefix)
    registered = client.post(
        "/auth/register", json={"name": prefix.title(), "email": email, "password": PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    login = client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return registered.json()["data"]["id"], login.json()["data"]["access_token"]


def make_admin(stack: Stack) -> str:
    """An admin, made as the CLI makes one (Ledger.register_user with role admin): a token."""
    settings = Settings(ledger_env="test", ledger_secret_key=SECRET)  # type: ignore[arg-type]
    ledger = Ledger(settings, stack.database_url, pool_size=1)
    email = unique_email("admin")
    try:
        result = ledger.register_user(
            RegisterUser(
                name="Admin", email=email, password_hash=hash_password(PASSWORD), role=Role.ADMIN
            )
        )
    finally:
        ledger.close()
    wait_for_projection(stack.database_url, "users", result.position)
    with httpx.Client(base_url=f"{stack.base_url}/api/v1", timeout=30) as http:
        login = http.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return str(login.json()["data"]["access_token"])


def wait_for_projection(database_url: str, name: str, position: int) -> None:
    """Polls the tracking table: the test's own view of the projector's progress."""
    deadline = time.monotonic() + 30
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT position FROM projection_positions WHERE name = %s", (name,)
            ).fetchone()
            if row and row[0] >= position:
                return
            time.sleep(0.05)
    pytest.fail(f"projection {name} did not reach {position}")


@pytest.fixture(scope="session")
def admin_token(stack: Stack) -> str:
    return make_admin(stack)


@pytest.fixture
def customer(client: httpx.Client) -> tuple[str, str]:
    return register_and_login(client)


ADDRESS = {
    "full_name": "Test User",
    "address_line1": "123 Test St",
    "city": "Test City",
    "state": "TS",
    "postal_code": "12345",
    "country": "US",
}


def create_product(
    client: httpx.Client, admin_token: str, price: str = "29.99", stock: int = 100
) -> dict[str, object]:
    response = client.post(
        "/products",
        json={
            "name": f"Widget {uuid.uuid4().hex[:6]}",
            "description": "A widget",
            "price": price,
            "category": "widgets",
            "tags": ["e2e"],
            "stock": stock,
        },
        headers=auth(admin_token),
    )
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()["data"]
    return data
