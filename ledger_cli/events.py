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
        pairs = upcasting.stored_pairs(conn, (EVENTS_TABLE, SNAPSHOTS_TABLE))
    problems = upcasting.check(pairs)
    for problem in problems:
        typer.echo(problem)
    if problems:
        raise typer.Exit(1)
    typer.echo(ALL_GOOD)
