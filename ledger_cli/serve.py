"""`ledger serve`: the HTTP API alone, under uvicorn.

With several workers uvicorn starts one process per worker from an import string; their
Prometheus samples go to a shared folder (PROMETHEUS_MULTIPROC_DIR) so `/metrics` adds them up."""

from __future__ import annotations

import os
import tempfile

import typer

from ledger_cli import context
from ledger_cli.events import refuse_without_paths


def serve(
    host: str = typer.Option("127.0.0.1", metavar="HOST", help="Address the API listens on."),
    port: int = typer.Option(8000, metavar="PORT", help="Port the API listens on."),
    workers: int = typer.Option(1, min=1, max=64, metavar="N", help="Worker processes."),
    request_log: bool = typer.Option(
        True,
        "--request-log/--no-request-log",
        envvar="LEDGER_REQUEST_LOG",
        help="One log line per request (env LEDGER_REQUEST_LOG).",
    ),
) -> None:
    """Run the HTTP API."""
    import uvicorn

    from ledger.logs import REQUEST_LOG_VARIABLE

    # In the environment, so that the workers uvicorn starts log the same way.
    os.environ[REQUEST_LOG_VARIABLE] = "on" if request_log else "off"
    context.as_service()
    settings = context.settings()
    # Resolve the database once here, so every worker attaches to the same server.
    os.environ["DATABASE_URL"] = context.url()
    refuse_without_paths(os.environ["DATABASE_URL"])
    options = {
        "host": host,
        "port": port,
        "log_config": None,
        "server_header": False,
        "proxy_headers": True,
        "timeout_graceful_shutdown": 10,
    }
    if workers == 1:
        from api.app import create_app  # imported here: other commands never load the API
        from ledger.heap import settle_after_startup

        app = create_app(settings)
        settle_after_startup()
        uvicorn.run(app, **options)  # type: ignore[arg-type]
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ledger-metrics-")
    uvicorn.run(
        "api.main:app_from_environment",
        factory=True,
        workers=workers,
        # A worker imports the whole ledger before it answers; on a busy machine that takes
        # longer than uvicorn's default 5 s, which would kill and restart it.
        timeout_worker_healthcheck=30,
        **options,  # type: ignore[arg-type]
    )
