"""Entry point of the `ledger` command. Errors are one clear line on standard error: exit 1
for a failure, exit 2 for a usage mistake (`ledger: <what>; see ledger <cmd> --help`).

Start-up is kept short: this module and the command modules import only Typer at the top;
each command imports the domain, the database driver or the API when it runs."""

from __future__ import annotations

import sys

import typer
from typer._click import exceptions as click  # Typer vendors Click: these are its errors

from ledger_cli import db, demo, dev, events, projections, report, serve, users

app = typer.Typer(
    name="ledger",
    help="The ledger: an event-sourced order ledger for an online shop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(demo.app, name="demo")
app.command("dev")(dev.dev)
app.command("serve")(serve.serve)
app.add_typer(projections.projector_app, name="projector")
app.add_typer(projections.projections_app, name="projections")
app.add_typer(report.app, name="report")
app.add_typer(events.app, name="events")

EXIT_FAILURE = 1
EXIT_USAGE = 2
# Failures whose message is already the whole story (matched by name, so that this module
# imports none of them: their modules are loaded only by the commands that raise them).
PLAIN_FAILURES = {
    "ledger.database.DatabaseError",
    "ledger.domain.errors.DomainError",
    "ledger_cli.embedded_redis.EmbeddedRedisError",
    "projections.rebuild_lock.RebuildError",
}


def main() -> None:
    """Runs the CLI: usage mistakes exit 2, every other failure exits 1, each one line."""
    try:
        code = app(prog_name="ledger", standalone_mode=False)
    except click.NoArgsIsHelpError as exc:
        # A group named alone (`ledger db`): its help is the answer, still a usage mistake.
        print(exc.ctx.get_help() if exc.ctx else "", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except click.UsageError as exc:
        _usage(exc.format_message(), exc.ctx.command_path if exc.ctx else "ledger")
    except typer.Abort:
        _fail("interrupted")
    except click.ClickException as exc:
        _fail(exc.format_message())
    except KeyboardInterrupt:
        _fail("interrupted")
    except Exception as exc:
        names = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}
        if "ledger.settings.SettingsError" in names:
            _fail(f"configuration error: {exc}")
        elif names & PLAIN_FAILURES:
            _fail(str(exc))
        else:
            _fail(f"{type(exc).__name__}: {exc}")
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(message: str) -> str:
    # Driver messages span lines (libpq adds hints); the promise is one line.
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def _fail(message: str) -> None:
    print(f"ledger: {_one_line(message)}", file=sys.stderr)
    sys.exit(EXIT_FAILURE)


def _usage(message: str, command_path: str) -> None:
    what = _one_line(message).rstrip(".")
    what = what[:1].lower() + what[1:]
    print(f"ledger: {what}; see {command_path} --help", file=sys.stderr)
    sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
