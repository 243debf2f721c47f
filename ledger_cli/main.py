"""Entry point of the `ledger` command. Errors are one clear line: exit 1 for a failure,
exit 2 for a usage mistake."""

from __future__ import annotations

import sys

import typer

from ledger.database import DatabaseError
from ledger.domain.errors import DomainError
from ledger.settings import SettingsError
from ledger_cli import db, demo, dev, projections, report, serve, users
from projections.registry import UnknownProjectionError

app = typer.Typer(
    name="ledger",
    help="The ledger: an event-sourced order ledger for an online shop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(demo.app, name="demo")
app.command("dev")(dev.dev)
app.command("serve")(serve.serve)
app.add_typer(projections.projector_app, name="projector")
app.add_typer(projections.projections_app, name="projections")
app.add_typer(report.app, name="report")

EXIT_FAILURE = 1


def main() -> None:
    """Runs the CLI. Typer itself answers usage mistakes (exit 2); every other failure
    becomes one line on standard error and exit 1."""
    try:
        app()
    except SettingsError as exc:
        _fail(f"configuration error: {exc}")
    except (DatabaseError, DomainError, UnknownProjectionError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted")
    except Exception as exc:
        _fail(f"{type(exc).__name__}: {exc}")


def _fail(message: str) -> None:
    # Driver messages span lines (libpq adds hints); the promise is one line.
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"ledger: {line}", file=sys.stderr)
    sys.exit(EXIT_FAILURE)


if __name__ == "__main__":
    main()
