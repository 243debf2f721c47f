"""`ledger users`: administrators are made here, never over HTTP."""

from __future__ import annotations

import sys

import typer

from ledger_cli import context

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
