"""The `ledger` command against a fresh database given by DATABASE_URL.

Most tests call the entry point's `main()` in this process (argv, stdin and the environment
set as a user would; importing the CLI takes seconds, so one import serves them all). One test
runs the installed `ledger` script in a subprocess, to prove the wiring end to end."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import structlog

import projections
from ledger import database
from ledger.application import Ledger
from ledger.demo import AMPLE_STOCK, DEMO_SIZE
from ledger.domain import Product, Role, User
from ledger.settings import Settings
from ledger_cli import context
from ledger_cli.main import main
from tests.data import SECRET_KEY
from tests.integration.test_write_side import load

LEDGER = str(Path(sys.executable).with_name("ledger"))
STRONG = "Str0ng-Passw0rd!"
# Variables of the outer environment that must not leak into the command under test.
OWN_PREFIXES = ("LEDGER_", "DATABASE_", "REDIS_", "RATE_LIMIT_", "LOG_")


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


Run = Callable[..., Result]


@pytest.fixture
def run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Run]:
    """Runs `ledger ARGS` in process, in an empty folder (no .env), with the given environment."""
    root = logging.getLogger()
    saved_logging = (root.handlers[:], root.level, structlog.get_config())
    for key in list(os.environ):
        if key.startswith(OWN_PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)

    def run_ledger(
        *args: str, database_url: str | None = None, stdin: str = "", **env: str
    ) -> Result:
        environment = {"LEDGER_ENV": "test", "LEDGER_DATA_DIR": str(tmp_path / "data"), **env}
        if database_url is not None:
            environment["DATABASE_URL"] = database_url
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(sys, "argv", ["ledger", *args])
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        # The CLI reads its settings once per process; each run here is a new "process".
        context.settings.cache_clear()
        context.url.cache_clear()
        monkeypatch.setitem(context._service, "on", False)  # a command, not a service
        with pytest.raises(SystemExit) as exited:
            main()
        captured = capsys.readouterr()
        code = exited.value.code
        return Result(code if isinstance(code, int) else 1, captured.out, captured.err)

    yield run_ledger
    context.settings.cache_clear()
    context.url.cache_clear()
    root.handlers[:], level, config = saved_logging
    root.setLevel(level)
    structlog.configure(**config)


@pytest.fixture
def empty_database(server_url: str) -> Iterator[str]:
    """A database with no tables at all, so the migrations run from the start."""
    name = f"ledger_test_cli_{uuid.uuid4().hex[:12]}"
    database.create_database(server_url, name)
    yield database.with_database(server_url, name)
    database.drop_database(server_url, name)


def one_line_error(result: Result | subprocess.CompletedProcess[str]) -> str:
    """The failure's message: exit 1, exactly one line on stderr, no traceback."""
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_db_upgrade_migrates_then_is_a_no_op(run: Run, empty_database: str) -> None:
    before = run("db", "current", database_url=empty_database)
    assert before.returncode == 0, before.stderr
    assert before.stdout.startswith("current: none")
    assert "needs `ledger db upgrade`" in before.stdout

    head = database.head_revision()
    for _ in range(2):
        result = run("db", "upgrade", database_url=empty_database)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"database at revision {head}"

    after = run("db", "current", database_url=empty_database)
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == f"current: {head}  head: {head}  (up to date)"


def test_create_admin(run: Run, make_database: Callable[[], str], settings: Settings) -> None:
    url = make_database()
    result = run(
        "users", "create-admin", "--email", " Root@Example.com", "--name", "Root",
        "--password-stdin", database_url=url, stdin=STRONG + "\n", LEDGER_SECRET_KEY=SECRET_KEY,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "root@example.com" in result.stdout
    assert STRONG not in result.stdout + result.stderr
    user_id = result.stdout.split()[1]
    ledger = Ledger(settings, url, pool_size=1)
    try:
        user = load(ledger, User, user_id)
    finally:
        ledger.close()
    assert user.role is Role.ADMIN
    projections.catch_up(url)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT email, name FROM users WHERE id = %s", (user_id,)).fetchone()
    assert row == ("root@example.com", "Root")

    again = run(
        "users", "create-admin", "--email", "ROOT@example.com", "--name", "Root",
        "--password-stdin", database_url=url, stdin=STRONG + "\n",
    )  # fmt: skip
    assert "already registered" in one_line_error(again)


def test_create_admin_refuses_a_weak_password(run: Run, make_database: Callable[[], str]) -> None:
    result = run(
        "users", "create-admin", "--email", "a@example.com", "--name", "A",
        "--password-stdin", database_url=make_database(), stdin="password\n",
    )  # fmt: skip
    assert one_line_error(result).startswith("ledger: password needs at least 12 characters")


def test_demo_seed_loads_the_catalog_once(
    run: Run, make_database: Callable[[], str], settings: Settings
) -> None:
    url = make_database()
    first = run("demo", "seed", database_url=url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"demo catalog: {DEMO_SIZE} created, 0 already there"
    second = run("demo", "seed", database_url=url)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == f"demo catalog: 0 created, {DEMO_SIZE} already there"

    ledger = Ledger(settings, url, pool_size=1)
    try:
        products = [load(ledger, Product, f"prod_{n}") for n in range(1, DEMO_SIZE + 1)]
        events = ledger.recorder.max_notification_id()
    finally:
        ledger.close()
    assert (products[0].price, products[0].available) == (2999, AMPLE_STOCK)
    assert all(p.is_active and p.available > 0 for p in products)
    assert events == DEMO_SIZE  # the second seed appended nothing


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DATABASE_URL", "mysql://x"), ("RATE_LIMIT_AUTH_PER_ADDRESS", "lots")],
)
def test_a_bad_setting_is_one_line_naming_it(run: Run, variable: str, value: str) -> None:
    message = one_line_error(run("db", "current", **{variable: value}))
    assert message.startswith(f"ledger: configuration error: {variable}: ")


def test_an_unreachable_database_is_one_line(run: Run) -> None:
    # Nothing listens on port 1 of the loopback address: the connection is refused at once.
    message = one_line_error(run("db", "current", database_url="postgresql://x@127.0.0.1:1/x"))
    assert message.startswith("ledger: ")
    assert "Connection refused" in message


@pytest.mark.parametrize(
    "args", [("frobnicate",), ("db", "sideways"), ("users", "create-admin"), ("demo",)]
)
def test_usage_mistakes_exit_2(run: Run, args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert "╭" not in result.stderr  # no Typer box (tests/integration/test_cli_usage.py)


def test_help_lists_the_commands(run: Run) -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("db", "users", "demo", "dev"):
        assert command in result.stdout


def test_the_installed_command_fails_in_one_line(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
    environment.update(DATABASE_URL="mysql://x", LEDGER_DATA_DIR=str(tmp_path))
    result = subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [LEDGER, "db", "current"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert one_line_error(result).startswith(
        "ledger: configuration error: DATABASE_URL: must start with postgresql://"
    )
