"""The factory uvicorn's worker processes call (`ledger serve --workers N`): settings and
logging from the environment, then the app, then the server's garbage-collector pace."""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from ledger.heap import settle_after_startup
from ledger.logs import configure_logging
from ledger.settings import load_settings


def app_from_environment() -> FastAPI:
    settings = load_settings()
    configure_logging(settings.effective_log_format, settings.log_level)
    app = create_app(settings)
    settle_after_startup()
    return app
