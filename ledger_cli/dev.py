"""`ledger dev`: the whole ledger on one machine, using all of it.

Starts (or attaches to) the embedded PostgreSQL when DATABASE_URL is unset, migrates, loads the
demo catalog into an empty store, then runs as child processes the API (one worker per core
unless --workers says) and every projector until Ctrl-C or SIGTERM, which stops them all
cleanly. With REDIS_URL unset it runs a Redis server under the data folder
(ledger_cli.embedded_redis) and hands it to the children, so the workers share the read cache,
the rate limits and the projection positions as production processes do.

The console is for a person: the seeding and the children's start-up log only warnings (unless
LOG_LEVEL is set), no line per request (unless --request-log or LEDGER_REQUEST_LOG=on), and
the banner with the URLs comes last, once the API answers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess  # nosec B404  # only to start our own CLI (_spawn)
import sys
import tempfile
import threading
import time
import urllib.request
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import typer

from ledger_cli import context

if TYPE_CHECKING:
    from ledger.settings import Settings

STOP_GRACE_SECONDS = 10.0
START_TIMEOUT_SECONDS = 60.0
MAX_WORKERS = 64  # `ledger serve --workers` takes no more
# Connections the API workers leave to the projector, the CLI and the superuser's reserve.
CONNECTIONS_KEPT_FREE = 20
MIN_POOL_SIZE = 2
Children = list[subprocess.Popen[bytes]]


def dev(
    host: str = typer.Option("127.0.0.1", metavar="HOST", help="Address the API listens on."),
    port: int = typer.Option(8000, metavar="PORT", help="Port the API listens on."),
    workers: int | None = typer.Option(
        None,
        min=1,
        max=MAX_WORKERS,
        metavar="N",
        envvar="LEDGER_WORKERS",
        show_default=False,
        help="API worker processes [default: one per core] (env LEDGER_WORKERS).",
    ),
    no_demo: bool = typer.Option(False, "--no-demo", help="Do not load the demo catalog."),
    request_log: bool = typer.Option(
        False,
        "--request-log",
        envvar="LEDGER_REQUEST_LOG",
        help="Log one line per HTTP request (env LEDGER_REQUEST_LOG).",
    ),
) -> None:
    """Run the ledger: database, migrations, Redis, API workers and every projector."""
    from ledger import database
    from ledger.demo import seed_demo
    from ledger.logs import REQUEST_LOG_VARIABLE
    from ledger_cli.events import refuse_without_paths

    url = context.url()
    database.upgrade(url)
    refuse_without_paths(url)
    _rebuild_other_versions(url)
    ledger = context.ledger(pool_size=1)
    if not no_demo and ledger.recorder.max_notification_id() is None:
        created = seed_demo(ledger)
        typer.echo(f"demo catalog loaded: {created} products")
    ledger.close()

    stopping = threading.Event()

    def stop(signum: int, _: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    settings = context.settings()
    count = workers or min(_cores(), MAX_WORKERS)
    env = {**os.environ, "DATABASE_URL": url, REQUEST_LOG_VARIABLE: "on" if request_log else "off"}
    if "log_level" not in settings.model_fields_set:
        # The children's start-up lines would push the banner away: warnings only, or the
        # request lines that were asked for.
        env["LOG_LEVEL"] = "INFO" if request_log else context.QUIET_LOG_LEVEL
    if "ledger_db_pool_size" not in settings.model_fields_set:
        env["LEDGER_DB_POOL_SIZE"] = str(_pool_size(url, count, settings.ledger_db_pool_size))
    with contextlib.ExitStack() as resources:
        resources.callback(typer.echo, "ledger stopped")  # last: once everything has stopped
        env["REDIS_URL"], redis_line = _redis(settings, resources)
        serve_env = dict(env)
        if count > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # The workers' samples, summed by /metrics; a fresh folder each run, as
            # prometheus-client requires, removed when we stop.
            settings.ledger_data_dir.mkdir(parents=True, exist_ok=True)
            folder = tempfile.TemporaryDirectory(prefix="metrics-", dir=settings.ledger_data_dir)
            serve_env["PROMETHEUS_MULTIPROC_DIR"] = resources.enter_context(folder)
        children = [
            _spawn(["projector", "run"], env),
            _spawn(
                ["serve", "--host", host, "--port", str(port), "--workers", str(count)], serve_env
            ),
        ]
        base = f"http://{host}:{port}"
        try:
            if not _wait_until_up(f"{base}/health", children, stopping):
                raise typer.Exit(0 if stopping.is_set() else 1)
            where = "DATABASE_URL" if settings.database_url else "embedded PostgreSQL"
            plural = "worker" if count == 1 else "workers"
            typer.echo(
                f"ledger running\n  API      {base}/api/v1 ({count} {plural})\n"
                f"  docs     {base}/docs\n  metrics  {base}/metrics\n  database {where}\n"
                f"  redis    {redis_line}\nCtrl-C stops everything."
            )
            while not stopping.wait(0.2):
                exited = [child for child in children if child.poll() is not None]
                if exited:
                    typer.echo(
                        f"a ledger process exited ({exited[0].returncode}); stopping", err=True
                    )
                    raise typer.Exit(1)
        finally:
            _stop(children)


def _cores() -> int:
    """The cores this process may run on (its affinity, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _pool_size(url: str, workers: int, default: int) -> int:
    """Each API worker's database pool size: the default, unless the workers' two pools each
    (reads, commands) would ask for more connections than the server allows (the embedded one
    allows 100: eight workers at the default would take 160)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW max_connections").fetchone()
    allowed = int(row[0]) if row else 100
    return max(MIN_POOL_SIZE, min(default, (allowed - CONNECTIONS_KEPT_FREE) // (2 * workers)))


def _redis(settings: Settings, resources: contextlib.ExitStack) -> tuple[str, str]:
    """REDIS_URL for the children and the banner's line: the configured one, or the data
    folder's Redis server (started unless another `ledger dev` runs it), left with `resources`."""
    if settings.redis_url:
        return settings.redis_url, "REDIS_URL"
    from ledger_cli.embedded_redis import embedded_redis

    folder = settings.ledger_data_dir / "redis"
    server = resources.enter_context(embedded_redis(folder))
    how = "started" if server.started else "shared with another ledger dev"
    return server.url, f"{Path(folder, server.socket.name)} ({how})"


def _rebuild_other_versions(url: str) -> None:
    """Rebuilds each projection whose tables another version of its code built: on one machine
    no other release keeps them up to date, so after a read-model change (a projection's
    `version` bumped) `ledger dev` builds the new shape before it serves."""
    import psycopg

    from projections import positions
    from projections.rebuild import rebuild
    from projections.registry import resolve

    with psycopg.connect(url, autocommit=True) as conn:
        built = {p.name: positions.built_version(conn, p.name) for p in resolve(None)}
    for projection in resolve(None):
        if built[projection.name] in (None, projection.version):
            continue
        typer.echo(
            f"rebuilding {projection.name}: its tables are version {built[projection.name]}, "
            f"this code builds version {projection.version}"
        )
        done = rebuild(url, projection)
        typer.echo(f"  {done.events} events in {done.seconds:.1f} s")


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Our own CLI, with arguments we built: no untrusted input reaches the command line.
    return subprocess.Popen([sys.executable, "-m", "ledger_cli.main", *args], env=env)  # noqa: S603  # nosec B603


def _wait_until_up(health_url: str, children: Children, stopping: threading.Event) -> bool:
    """Waits for the API to answer its liveness check; False if a child dies or we stop."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and not stopping.is_set():
        if any(child.poll() is not None for child in children):
            typer.echo("the ledger failed to start; see the lines above", err=True)
            return False
        try:
            # Our own loopback URL, built above.
            with urllib.request.urlopen(health_url, timeout=1) as response:  # noqa: S310  # nosec B310
                if response.status == HTTPStatus.OK:
                    return True
        except OSError:
            stopping.wait(0.2)
    if not stopping.is_set():
        typer.echo(f"the API did not answer at {health_url} in time", err=True)
    return False


def _stop(children: Children) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
