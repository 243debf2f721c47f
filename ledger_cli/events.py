"""`ledger events show|check|migrate` (issue #13): one aggregate's events as today's code
reads them, whether every stored event type has a path to today's schema, and the rewrite of
old versions into it (projections.migrate)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer._click.exceptions import ClickException

from ledger_cli import context
from ledger_cli.help import PLAIN

if TYPE_CHECKING:
    from ledger_cli.projections import RebuildReporter
    from projections.events import Event
    from projections.migrate import Outcome
    from projections.rebuild import Progress

app = typer.Typer(help="The event store's schema.", no_args_is_help=True, rich_markup_mode=None)
ALL_GOOD = "every stored event type has a path to today's schema"
NOTHING_TO_DO = "no stored event of an old version: nothing to do"


class ShowFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@app.command("show", **PLAIN)
def show(
    aggregate_id: str = typer.Argument(..., metavar="ID", help="The aggregate's id."),
    fmt: Annotated[
        ShowFormat, typer.Option("--format", metavar="table|json", help="Output format.")
    ] = ShowFormat.TABLE,
) -> None:
    """One aggregate's events, in order, as today's code reads them (after upcasting): store
    position, version, time, name and fields."""
    import psycopg

    from ledger import personal
    from projections.events import EVENT_COLUMNS, decode_rows

    with psycopg.connect(context.url()) as conn:
        rows = conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM ledger_events WHERE originator_id = %s "  # noqa: S608 - constant columns  # nosec B608
            "ORDER BY originator_version",
            (aggregate_id,),
        ).fetchall()
        if not rows:
            raise ClickException(f"no events of aggregate {aggregate_id} in the store")
        events = decode_rows(rows, personal.ring().lookup(conn))
    shown = [_shown(event) for event in events]
    if fmt is ShowFormat.JSON:
        typer.echo(json.dumps(shown, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("position", "version", "time", "event", "fields")
    for event in shown:
        table.add_row(
            str(event["position"]), str(event["version"]), event["time"], event["event"],
            json.dumps(event["fields"], default=str, ensure_ascii=False),
        )  # fmt: skip
    Console().print(table)


def _shown(event: Event[Any]) -> dict[str, Any]:
    return {
        "position": event.position,
        "version": event.version,
        "time": event.timestamp.isoformat(),
        "event": event.name,
        "fields": event.data,
    }


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


@app.command("migrate", **PLAIN)
def migrate(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Copy, rebuild and compare, then stop: change nothing."
    ),
    keep: bool = typer.Option(
        False, "--keep", help="Keep the copy (schema ledger_migrate) to look at."
    ),
    wait: float = typer.Option(
        60.0,
        "--wait",
        min=0,
        metavar="SECONDS",
        help="How long to wait for the live projections to reach the copy's head.",
    ),
) -> None:
    """Rewrite stored events of old versions into today's schema, while the ledger runs.

    The store is copied with the old events rewritten, every projection is rebuilt from the
    copy and compared with the live tables, and only if all are equal are the stored events
    rewritten in place (old snapshots deleted). Afterwards the upcasters of the rewritten
    versions can be deleted. Exit 1, nothing changed, when a table differs."""
    import ledger.domain  # noqa: F401 - every aggregate's module, so topics resolve
    from projections import migrate as migration

    progress = _RebuildProgress()

    def say(line: str) -> None:
        progress.close()
        typer.echo(line)

    try:
        outcome = migration.run(
            context.url(), dry_run=dry_run, keep=keep, wait_seconds=wait, say=say,
            progress=progress.update,
        )  # fmt: skip
    except migration.MigrateError as exc:
        raise ClickException(str(exc)) from None
    finally:
        progress.close()
    _report(outcome, dry_run)


def _report(outcome: Outcome, dry_run: bool) -> None:
    plan = outcome.plan
    if plan.nothing_to_do and plan.kept:
        typer.echo(
            f"nothing to rewrite: the stored events of old versions ({plan.kept_pairs()}) "
            "are split, dropped or unsealed by their upcasters, which must stay"
        )
        return
    if plan.nothing_to_do:
        typer.echo(NOTHING_TO_DO)
        return
    if outcome.differences:
        for difference in outcome.differences:
            for line in difference.describe():
                typer.echo(line)
        raise ClickException(
            f"{len(outcome.differences)} tables differ from the live ones: nothing was changed"
        )
    if outcome.compared_at:
        at = ", ".join(f"{name} {position:,}" for name, position in outcome.compared_at.items())
        typer.echo(f"every table equals the live one (at store positions {at})")
    if dry_run:
        typer.echo("dry run: nothing was changed")
        return
    typer.echo(
        f"rewrote {outcome.updated:,} stored events into today's schema"
        + (f" ({outcome.appended_old:,} appended meanwhile)" if outcome.appended_old else "")
        + f", deleted {outcome.snapshots_deleted:,} snapshots of old versions"
    )
    if outcome.changed:
        raise ClickException(
            f"{outcome.changed:,} events changed since the copy and were left as they were: "
            "run ledger events migrate again"
        )
    done = [f"{name} v{version}" for name, version in plan.deletable()]
    if done:
        typer.echo(f"the upcasters of {', '.join(done)} can be deleted")


class _RebuildProgress:
    """`ledger projections rebuild`'s progress, one bar (or line) per projection."""

    def __init__(self) -> None:
        self._reporter: RebuildReporter | None = None
        self._projection = ""

    def update(self, p: Progress) -> None:
        from ledger_cli.projections import RebuildReporter

        if self._reporter is None or p.projection != self._projection:
            self.close()
            self._reporter, self._projection = RebuildReporter(), p.projection
        self._reporter.update(p)

    def close(self) -> None:
        if self._reporter is not None:
            self._reporter.close()
            self._reporter = None
