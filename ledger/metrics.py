"""Prometheus metrics shared by the API and the projector workers.

Under several uvicorn workers set PROMETHEUS_MULTIPROC_DIR: prometheus-client then writes
every process's samples to that folder and `/metrics` adds them up, so no count is lost. The
projection gauges keep the most recent value written by any process: each API worker refreshes
them when it is scraped, and an older refresh in another worker must not win."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

COMMANDS = Counter(
    "ledger_commands_total", "Commands handled, by command and outcome", ["command", "outcome"]
)
EVENTS_APPENDED = Counter("ledger_events_appended_total", "Events appended to the store")
COMMAND_SECONDS = Histogram(
    "ledger_command_duration_seconds", "Time to handle a command, retries included", ["command"]
)
HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests, by method, route template and status",
    ["method", "route", "status"],
)  # fmt: skip
HTTP_SECONDS = Histogram(
    "http_request_duration_seconds", "HTTP request duration, by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0),
)  # fmt: skip
PROJECTION_POSITION = Gauge(
    "ledger_projection_position", "Last store position applied", ["projection"],
    multiprocess_mode="mostrecent",
)  # fmt: skip
PROJECTION_LAG_EVENTS = Gauge(
    "ledger_projection_lag_events", "Events in the store not yet applied", ["projection"],
    multiprocess_mode="mostrecent",
)  # fmt: skip
PROJECTION_LAG_SECONDS = Gauge(
    "ledger_projection_lag_seconds", "Age of the oldest event not yet applied", ["projection"],
    multiprocess_mode="mostrecent",
)  # fmt: skip
PROJECTION_DEAD_LETTERS = Gauge(
    "ledger_projection_dead_letters", "Events parked as dead letters", ["projection"],
    multiprocess_mode="mostrecent",
)  # fmt: skip
PROJECTION_EVENTS = Counter(
    "ledger_projection_events_total", "Events applied by a projection", ["projection"]
)
DB_POOL = Gauge(
    "ledger_db_pool_connections", "Database pool connections, by pool and state",
    ["pool", "state"], multiprocess_mode="livesum",
)  # fmt: skip
