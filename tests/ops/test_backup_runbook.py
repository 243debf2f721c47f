"""ops/backup.md stays true to the schema: every table the migrations create is classified
(backed up, or rebuilt from events), the dump names exactly the backed-up tables, and the
commands the restore relies on exist in the `ledger` CLI."""

from __future__ import annotations

import re

import psycopg
from typer.testing import CliRunner

from ledger_cli.main import app
from tests.ops.conftest import REPO

RUNBOOK = (REPO / "ops" / "backup.md").read_text()


def _migrated_tables(database_url: str) -> set[str]:
    """The tables of a database at the head revision (migrations also drop tables)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {str(row[0]) for row in rows}


def _classified(answer: str) -> set[str]:
    """Tables in the runbook's table rows whose third column starts with `answer`."""
    tables: set[str] = set()
    for row in re.findall(r"^\|(.+)\|(.+)\|(.+)\|$", RUNBOOK, re.MULTILINE):
        if row[2].strip().removeprefix("**").startswith(answer):
            tables |= set(re.findall(r"`(\w+)`", row[0]))
    return tables


def test_every_table_is_classified_once(database_url: str) -> None:
    backed_up, rebuilt = _classified("yes"), _classified("no")
    assert not backed_up & rebuilt
    assert backed_up | rebuilt == _migrated_tables(database_url)


def test_the_data_dump_names_exactly_the_backed_up_tables() -> None:
    assert set(re.findall(r"--table=(\w+)", RUNBOOK)) == _classified("yes")
    assert {"ledger_events", "ledger_snapshots", "alembic_version"} <= _classified("yes")


def test_restore_commands_exist_in_the_cli() -> None:
    assert "ledger db upgrade" in RUNBOOK
    assert "ledger projections rebuild --all" in RUNBOOK
    runner = CliRunner()
    upgrade = runner.invoke(app, ["db", "upgrade", "--help"])
    assert upgrade.exit_code == 0, upgrade.output
    rebuild = runner.invoke(app, ["projections", "rebuild", "--help"])
    assert rebuild.exit_code == 0, rebuild.output
    assert "--all" in rebuild.output
