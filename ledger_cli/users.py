"""`ledger users`: administrators are made here, never over HTTP."""

from __future__ import annotations

import sys

import typer

from ledger_cli import context
from ledger_cli.help import PLAIN

app = typer.Typer(help="User administration.", no_args_is_help=True, rich_markup_mode=None)


@app.command("create-admin")
def create_admin(
    email: str = typer.Option(..., "--email", metavar="EMAIL", help="The admin's email."),
    name: str = typer.Option(..., "--name", metavar="NAME", help="The admin's name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
) -> None:
    """Create an administrator; the password comes from --password-stdin or a prompt."""
    from ledger.commands import RegisterUser
    from ledger.domain import Role
    from ledger.passwords import check_policy, hash_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    check_policy(password)
    command = RegisterUser(
        name=name, email=email, password_hash=hash_password(password), role=Role.ADMIN
    )
    result = context.ledger(pool_size=1).register_user(command)
    typer.echo(f"admin {result.aggregate_id} created for {email.strip().lower()}")


@app.command("forget", **PLAIN)
def forget(
    user_id: str = typer.Argument(..., metavar="ID", help="The user's id (usr_...)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Erase a user: their personal data becomes unreadable everywhere; their orders stay."""
    from ledger.commands import EraseUser

    if not yes:
        typer.confirm(f"Erase {user_id}? This cannot be undone", abort=True)
    # An unknown or erased user: the not-found error is the one line `ledger` prints.
    context.ledger(pool_size=1).erase_user(EraseUser(user_id=user_id, erased_by="cli"))
    typer.echo(f"{user_id} erased")


@app.command("export", **PLAIN)
def export(
    user_id: str = typer.Argument(..., metavar="ID", help="The user's id (usr_...)."),
) -> None:
    """Print everything the ledger holds about a user, as one JSON document."""
    from typer._click.exceptions import ClickException  # Typer vendors Click

    from api.schemas.people import ExportOut
    from reads.people import person

    found = context.read(lambda conn: person(conn, user_id))
    if found is None:
        raise ClickException(f"user {user_id} not found")
    typer.echo(ExportOut.from_person(found).model_dump_json(indent=2))


@app.command("rotate-key", **PLAIN)
def rotate_key(
    old_secret_stdin: bool = typer.Option(
        False, "--old-secret-stdin", help="Read the previous LEDGER_SECRET_KEY from standard input."
    ),
) -> None:
    """Rewrap every person's data key with the master key of today's LEDGER_SECRET_KEY, after
    changing it; the previous secret comes from --old-secret-stdin or a prompt."""
    import psycopg

    from ledger import personal

    if old_secret_stdin:
        old = sys.stdin.readline().rstrip("\r\n")
    else:
        old = typer.prompt("Previous LEDGER_SECRET_KEY", hide_input=True)
    ring = personal.configure(context.settings().secret_key)
    with psycopg.connect(context.url()) as conn:
        rewrapped = ring.rewrap(conn, personal.MasterKey.from_secret(old))
    typer.echo(f"{rewrapped} data keys rewrapped with master key {ring.master.id}")
