"""`ledger dev`: the whole ledger on one machine.

Starts (or attaches to) the embedded PostgreSQL when DATABASE_URL is unset, migrates, loads the
demo catalog into an empty store, then runs the API and every projector as child processes
until Ctrl-C or SIGTERM, which stops them all cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

import typer

from ledger import database
from ledger.demo import seed_demo
from ledger_cli import context

STOP_GRACE_SECONDS = 10.0


def dev(
    host: str = typer.Option("127.0.0.1", help="Address the API listens on."),
    port: int = typer.Option(8000, help="Port the API listens on."),
    no_demo: bool = typer.Option(False, "--no-demo", help="Do not load the demo catalog."),
) -> None:
    """Run the ledger: database, migrations, API and every projector."""
    url = context.url()
    database.upgrade(url)
    ledger = context.ledger(pool_size=1)
    if not no_demo and ledger.recorder.max_notification_id() is None:
        created = seed_demo(ledger)
        typer.echo(f"demo catalog loaded: {created} products")
    ledger.close()

    env = {**os.environ, "DATABASE_URL": url}
    children = [
        _spawn(["projector", "run"], env),
        _spawn(["serve", "--host", host, "--port", str(port)], env),
    ]
    base = f"http://{host}:{port}"
    where = "DATABASE_URL" if context.settings().database_url else "embedded PostgreSQL"
    typer.echo(
        f"ledger running\n  API      {base}/api/v1\n  docs     {base}/docs\n"
        f"  metrics  {base}/metrics\n  database {where}\nCtrl-C stops everything."
    )
    _supervise(children)


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Our own CLI, with arguments we built: no untrusted input reaches the command line.
    return subprocess.Popen([sys.executable, "-m", "ledger_cli.main", *args], env=env)  # noqa: S603


def _supervise(children: list[subprocess.Popen[bytes]]) -> None:
    stopping = False

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        failed = [child for child in children if child.poll() is not None]
        if failed:
            typer.echo(f"a ledger process exited with {failed[0].returncode}; stopping", err=True)
            break
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    typer.echo("ledger stopped")
    if not stopping:
        raise typer.Exit(1)
