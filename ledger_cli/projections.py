"""`ledger projector run` and `ledger projections status|rebuild|dead-letters`."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from types import FrameType
from typing import Annotated

import psycopg
import typer
from prometheus_client import start_http_server
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from ledger.logs import get_logger
from ledger.tracing import configure_tracing
from ledger_cli import context
from projections import dead_letters
from projections.rebuild import Progress as RebuildProgress
from projections.rebuild import RebuildError, exclusive, rebuild
from projections.registry import resolve
from projections.status import read_status
from projections.worker import LIVE_BATCH, POLL_SECONDS, run_workers

projector_app = typer.Typer(help="Projector workers.", no_args_is_help=True)
projections_app = typer.Typer(
    help="Projection status, rebuilds and dead letters.", no_args_is_help=True
)
log = get_logger("ledger.cli")
PLAIN_PROGRESS_SECONDS = 2.0


@projector_app.command("run")
def run(
    names: Annotated[
        list[str] | None, typer.Argument(help="Projections to run (default: all).")
    ] = None,
    metrics_port: int = typer.Option(9100, help="Port for Prometheus metrics (0: none)."),
    metrics_host: str = typer.Option("127.0.0.1", help="Address for Prometheus metrics."),
    batch_size: int = typer.Option(LIVE_BATCH, min=1, help="Most events per transaction."),
    poll_seconds: float = typer.Option(POLL_SECONDS, min=0.05, help="Polling fallback interval."),
) -> None:
    """Run projector workers until SIGTERM or Ctrl-C (one active copy per projection)."""
    projections = resolve(names)
    url = context.url()
    configure_tracing("ledger-projector")  # off unless OTEL_* variables ask for it
    if metrics_port:
        try:
            start_http_server(metrics_port, addr=metrics_host)
        except OSError as exc:
            log.warning("metrics port unavailable", port=metrics_port, error=str(exc))
    stop = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        log.info("projectors stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    threads = run_workers(url, projections, stop, batch_size=batch_size, poll_seconds=poll_seconds)
    log.info("projectors running", projections=[p.name for p in projections])
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(timeout=0.5)
    log.info("projectors stopped")


@projections_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Per projection: position, head of the store, lag, state and dead letters."""
    with psycopg.connect(context.url()) as conn:
        statuses = read_status(conn)
    if as_json:
        typer.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
        return
    table = Table(
        "projection", "position", "head", "lag (events)", "lag (s)", "state", "dead letters"
    )
    for s in statuses:
        table.add_row(
            s.name, str(s.position), str(s.head), str(s.lag_events), f"{s.lag_seconds:.1f}",
            s.state, str(s.dead_letters),
        )  # fmt: skip
    Console().print(table)


@projections_app.command("rebuild")
def rebuild_command(
    names: Annotated[list[str] | None, typer.Argument(help="Projections to rebuild.")] = None,
    all_: bool = typer.Option(False, "--all", help="Rebuild every projection."),
) -> None:
    """Rebuild from the event store into shadow tables, swapped in atomically when caught up.

    One rebuild per projection at a time, on any host: while one runs, another is refused
    (exit 1), and `--all` refuses unless none of them is running."""
    if not names and not all_:
        raise typer.BadParameter("name at least one projection, or --all")
    projections = resolve(None if all_ else names)
    url = context.url()
    try:
        # Every lock first: a refused `--all` rebuilds nothing. A failed rebuild cleans up
        # after itself while it still holds its lock.
        with exclusive(url, [p.name for p in projections]) as lock:
            for projection in projections:
                report = _Reporter()
                try:
                    result = rebuild(url, projection, progress=report.update, lock=lock)
                finally:
                    report.close()
                typer.echo(
                    f"{result.projection}: rebuilt from {result.events} events in "
                    f"{result.seconds:.1f} s ({result.events_per_second:,.0f} events/s), "
                    f"position {result.position}"
                    + (f", {result.parked} parked as dead letters" if result.parked else "")
                )
    except RebuildError as exc:
        typer.echo(f"ledger: {exc}", err=True)
        raise typer.Exit(1) from None


class _Reporter:
    """A progress bar on a terminal, plain progress lines otherwise."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._last_line = 0.0
        if sys.stderr.isatty():
            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} events"),
                TextColumn("{task.fields[rate]:,.0f} events/s"), TimeRemainingColumn(),
                console=Console(stderr=True),
            )  # fmt: skip
            self._bar.start()

    def update(self, p: RebuildProgress) -> None:
        if self._bar is not None:
            if self._task is None:
                self._task = self._bar.add_task(p.projection, total=p.total, rate=0.0)
            self._bar.update(self._task, completed=p.done, total=p.total, rate=p.events_per_second)
            return
        now = time.monotonic()
        if now - self._last_line >= PLAIN_PROGRESS_SECONDS or p.done >= p.total:
            self._last_line = now
            eta = f"{p.eta_seconds:.0f} s" if p.eta_seconds is not None else "?"
            print(
                f"{p.projection}: {p.done}/{p.total} events, "
                f"{p.events_per_second:,.0f} events/s, ETA {eta}",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@projections_app.command("dead-letters")
def dead_letters_command(
    name: str = typer.Argument(..., help="The projection."),
    retry: bool = typer.Option(False, "--retry", help="Apply the parked events again, in order."),
) -> None:
    """Show the events a projection could not apply; --retry applies them again."""
    projection = resolve([name])[0]
    url = context.url()
    if retry:
        result = dead_letters.retry(url, projection)
        typer.echo(f"{name}: {result.applied} applied, {result.still_parked} still parked")
        return
    with psycopg.connect(url) as conn:
        letters = dead_letters.list_dead_letters(conn, name)
    if not letters:
        typer.echo(f"{name}: no dead letters")
        return
    table = Table("position", "aggregate", "version", "event", "error", "parked at")
    for d in letters:
        table.add_row(
            str(d.position), d.originator_id, str(d.originator_version), d.event, d.error,
            d.parked_at.isoformat(timespec="seconds"),
        )  # fmt: skip
    Console().print(table)
