"""`ledger db`: Alembic migrations."""

from __future__ import annotations

import typer

from ledger import database
from ledger_cli import context

app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Migrate the database to the newest schema (a no-op when it is up to date)."""
    url = context.url()
    database.upgrade(url)
    typer.echo(f"database at revision {database.current_revision(url)}")


@app.command()
def current() -> None:
    """Print the database's schema revision and the newest one available."""
    revision = database.current_revision(context.url())
    head = database.head_revision()
    state = "up to date" if revision == head else "needs `ledger db upgrade`"
    typer.echo(f"current: {revision or 'none'}  head: {head}  ({state})")
