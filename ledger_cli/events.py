"""`ledger events check`: every stored event type has a path to today's schema (issue #13)."""

from __future__ import annotations

import typer

from ledger_cli import context

app = typer.Typer(help="The event store's schema.", no_args_is_help=True, rich_markup_mode=None)
ALL_GOOD = "every stored event type has a path to today's schema"


@app.command("check")
def check() -> None:
    """Check that every stored (topic, class_version) upcasts to a class of today's domain."""
    import psycopg

    import ledger.domain  # noqa: F401 - every aggregate's module, so topics resolve
    from ledger import upcasting
    from ledger.eventstore import EVENTS_TABLE, SNAPSHOTS_TABLE

    with psycopg.connect(context.url()) as conn:
        seen = upcasting.seen_pairs(conn, EVENTS_TABLE, SNAPSHOTS_TABLE)
        # Before migration 0009 nothing is remembered: scan everything.
        pairs = (
            seen
            if seen is not None
            else upcasting.stored_pairs(conn, (EVENTS_TABLE, SNAPSHOTS_TABLE))
        )
    problems = upcasting.check(pairs)
    for problem in problems:
        typer.echo(problem)
    if problems:
        raise typer.Exit(1)
    typer.echo(ALL_GOOD)


def refuse_without_paths(url: str) -> None:
    """For `ledger serve`, `projector run` and `dev` before they start: a failure (exit 1, one
    line) when a stored (topic, class_version) has no path to today's schema. Cheap: only the
    events stored since the last check are read. Skipped on a database not migrated yet."""
    import psycopg
    from typer._click.exceptions import ClickException  # Typer vendors Click

    import ledger.domain  # noqa: F401 - every aggregate's module, so topics resolve
    from ledger import upcasting
    from ledger.eventstore import EVENTS_TABLE, SNAPSHOTS_TABLE

    try:
        with psycopg.connect(url) as conn:
            pairs = upcasting.seen_pairs(conn, EVENTS_TABLE, SNAPSHOTS_TABLE)
    except (psycopg.errors.UndefinedTable, psycopg.OperationalError):
        return  # no store to check (not migrated, or unreachable): the command fails on its own
    if pairs is None:
        return
    problems = upcasting.check(pairs)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ClickException(
            f"refusing to start: {problems[0]}{more}; run ledger events check for the full list"
        )
