"""`ledger projector run` and `ledger projections status|rebuild|dead-letters`.

A rebuild's progress and its summary count the same thing, event store positions (the store
numbers its events 1, 2, 3 …; a rolled-back write leaves a gap, so the count of events can be
a little lower than the position): the bar shows the shadow's position out of the store's
head, the summary the position it was swapped in at; the rate, in both, is the fill's: store
positions per second of wall-clock time from the rebuild's start to its last progress report
(the summary's seconds add the index build and the swap)."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from typer._click.exceptions import UsageError

from ledger.choices import LIVE_BATCH, POLL_SECONDS
from ledger_cli import context
from ledger_cli.help import PLAIN

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from projections.base import Projection
    from projections.rebuild import Progress as RebuildProgress

projector_app = typer.Typer(help="Projector workers.", no_args_is_help=True, rich_markup_mode=None)
projections_app = typer.Typer(
    help="Projection status, rebuilds and dead letters.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
PLAIN_PROGRESS_SECONDS = 2.0


def _resolve(names: list[str] | None) -> list[Projection]:
    """The named projections; an unknown name is a usage mistake (exit 2)."""
    from projections.registry import UnknownProjectionError, resolve

    try:
        return resolve(names)
    except UnknownProjectionError as exc:
        raise UsageError(str(exc)) from None


@projector_app.command("run", **PLAIN)
def run(
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="NAME", help="Projections to run (default: all)."),
    ] = None,
    metrics_port: int = typer.Option(
        9100, metavar="PORT", help="Port for Prometheus metrics (0: none)."
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", metavar="HOST", help="Address for Prometheus metrics."
    ),
    batch_size: int = typer.Option(
        LIVE_BATCH, min=1, metavar="N", help="Most events per transaction."
    ),
    poll_seconds: float = typer.Option(
        POLL_SECONDS, min=0.05, metavar="SECONDS", help="Polling fallback interval."
    ),
) -> None:
    """Run projector workers until SIGTERM or Ctrl-C (one active copy per projection)."""
    from ledger.heap import settle_after_startup
    from ledger.logs import get_logger
    from ledger.tracing import configure_tracing
    from ledger_cli.events import refuse_without_paths
    from projections.worker import run_workers

    projections = _resolve(names)
    context.as_service()
    url = context.url()
    refuse_without_paths(url)
    log = get_logger("ledger.cli")
    configure_tracing("ledger-projector")  # off unless OTEL_* variables ask for it
    if metrics_port:
        from prometheus_client import start_http_server

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
    settle_after_startup()
    log.info("projectors running", projections=[p.name for p in projections])
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(timeout=0.5)
    log.info("projectors stopped")


@projections_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Per projection: position, head of the store, lag, state, dead letters, lease holder."""
    import psycopg

    from projections.status import read_status

    with psycopg.connect(context.url()) as conn:
        statuses = read_status(conn)
    if as_json:
        typer.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "projection", "position", "head", "lag (events)", "lag (s)", "state", "dead letters",
        "lease (host:pid)",
    )  # fmt: skip
    for s in statuses:
        table.add_row(
            s.name, str(s.position), str(s.head), str(s.lag_events), f"{s.lag_seconds:.1f}",
            s.state, str(s.dead_letters), s.lease or "-",
        )  # fmt: skip
    Console().print(table)


@projections_app.command("rebuild", **PLAIN)
def rebuild_command(
    names: Annotated[
        list[str] | None, typer.Argument(metavar="NAME", help="Projections to rebuild.")
    ] = None,
    all_: bool = typer.Option(False, "--all", help="Rebuild every projection."),
) -> None:
    """Rebuild from the event store into shadow tables, swapped in atomically when caught up.

    Name the projections, or --all (not both). One rebuild per projection at a time, on any
    host: while one runs, another is refused (exit 1), and --all refuses unless none of them
    is running. Progress and summary count event store positions."""
    if not names and not all_:
        raise UsageError("name at least one projection, or --all")
    if names and all_:
        raise UsageError("name projections or give --all, not both")
    projections = _resolve(None if all_ else names)
    from projections.rebuild import exclusive, rebuild

    url = context.url()
    # Every lock first: a refused `--all` rebuilds nothing. A failed rebuild cleans up after
    # itself while it still holds its lock. A RebuildError is one line, exit 1 (main).
    with exclusive(url, [p.name for p in projections]) as lock:
        for projection in projections:
            report = RebuildReporter()
            try:
                result = rebuild(url, projection, progress=report.update, lock=lock)
            finally:
                report.close()
            typer.echo(
                f"{result.projection}: rebuilt through store position {result.position:,} "
                f"in {result.seconds:.1f} s (filled at {report.rate:,.0f} positions/s)"
                + (f", {result.parked} parked as dead letters" if result.parked else "")
            )


class RebuildReporter:
    """A progress bar on a terminal, plain progress lines otherwise: the shadow's position
    out of the store's head, and positions per second since the rebuild began."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._last_line = 0.0
        self._last_done = -1
        self._started = time.perf_counter()
        self.rate = 0.0  # the last one shown
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} store positions"),
                TextColumn("{task.fields[rate]:,.0f} positions/s"), TimeRemainingColumn(),
                console=Console(stderr=True),
            )  # fmt: skip
            self._bar.start()

    def update(self, p: RebuildProgress) -> None:
        rate = p.done / max(time.perf_counter() - self._started, 1e-9)
        if self._bar is not None:
            self.rate = rate
            if self._task is None:
                self._task = self._bar.add_task(p.projection, total=p.total, rate=0.0)
            self._bar.update(self._task, completed=p.done, total=p.total, rate=rate)
            return
        now = time.monotonic()
        final = p.done >= p.total and p.done != self._last_done
        if now - self._last_line >= PLAIN_PROGRESS_SECONDS or final:
            self._last_line, self._last_done, self.rate = now, p.done, rate
            eta = f"{(p.total - p.done) / rate:.0f} s" if rate > 0 else "?"
            print(
                f"{p.projection}: {p.done:,}/{p.total:,} store positions, "
                f"{rate:,.0f} positions/s, ETA {eta}",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@projections_app.command("dead-letters", **PLAIN)
def dead_letters_command(
    name: str = typer.Argument(..., metavar="NAME", help="The projection."),
    retry: bool = typer.Option(False, "--retry", help="Apply the parked events again, in order."),
) -> None:
    """Show the events a projection could not apply; --retry applies them again."""
    import psycopg

    from projections import dead_letters

    projection = _resolve([name])[0]
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
    from rich.console import Console
    from rich.table import Table

    table = Table("position", "aggregate", "version", "event", "error", "parked at")
    for d in letters:
        table.add_row(
            str(d.position), d.originator_id, str(d.originator_version), d.event, d.error,
            d.parked_at.isoformat(timespec="seconds"),
        )  # fmt: skip
    Console().print(table)
