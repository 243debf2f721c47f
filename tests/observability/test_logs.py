"""Logs: one request id on every line of a request, the command line's fields, slow requests
as warnings, JSON in production and when LOG_FORMAT=json, console otherwise."""

from __future__ import annotations

import json

import psycopg
import pytest
from fastapi.testclient import TestClient

import projections
from api.main import app_from_environment
from ledger.logs import configure_logging
from tests.data import SECRET_KEY
from tests.observability.conftest import LogLines, MakeClient, admin_headers, product_body


def test_every_line_of_a_request_carries_its_request_id(
    make_client: MakeClient, database_url: str, log_lines: LogLines
) -> None:
    client = make_client()
    headers = admin_headers(client, database_url)
    log_lines.clear()
    response = client.post(
        "/api/v1/products",
        json=product_body(),
        headers={**headers, "X-Request-ID": "obs-request-1", "Prefer": "respond-async"},
    )
    assert response.status_code == 202, response.text
    assert response.headers["X-Request-ID"] == "obs-request-1"
    lines = log_lines.all()
    # At least the command (logged in a command thread) and the request line itself.
    assert {line["event"] for line in lines} >= {"command", "request"}
    assert all(line.get("request_id") == "obs-request-1" for line in lines), lines


def test_the_command_line_names_the_command_its_aggregates_and_position(
    make_client: MakeClient, database_url: str, log_lines: LogLines
) -> None:
    client = make_client()
    headers = admin_headers(client, database_url)
    log_lines.clear()
    response = client.post(
        "/api/v1/products",
        json=product_body(),
        headers={**headers, "Prefer": "respond-async"},
    )
    assert response.status_code == 202, response.text
    product_id = response.json()["data"]["id"]
    [command] = log_lines.events("command")
    assert command["command"] == "create_product"
    assert command["aggregate_id"] == product_id
    assert product_id in command["aggregates"]
    assert command["position"] == int(response.headers["X-Ledger-Position"])
    assert command["level"] == "info"
    assert command["logger"] == "ledger.commands"


def test_no_secret_reaches_a_log_line(
    make_client: MakeClient, database_url: str, log_lines: LogLines
) -> None:
    client = make_client()
    email = "secretive@example.com"
    client.post(
        "/api/v1/auth/register", json={"name": "S", "email": email, "password": "Sup3r$ecretPass!"}
    )
    projections.catch_up(database_url, ["users"])
    login = client.post("/api/v1/auth/login", json={"email": email, "password": "Sup3r$ecretPass!"})
    token = login.json()["data"]["access_token"]
    client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    text = json.dumps(log_lines.all())
    assert "Sup3r$ecretPass!" not in text
    assert token not in text


@pytest.mark.parametrize(
    ("threshold_ms", "event", "level"),
    [(0.001, "slow request", "warning"), (60_000, "request", "info")],
)
def test_requests_above_the_slow_threshold_are_warnings(
    make_client: MakeClient, log_lines: LogLines, threshold_ms: float, event: str, level: str
) -> None:
    client = make_client(ledger_slow_request_ms=threshold_ms)
    log_lines.clear()
    assert client.get("/api/v1/products", headers={"X-Request-ID": "timed"}).status_code == 200
    [line] = [line for line in log_lines.all() if line.get("route") == "/api/v1/products"]
    assert (line["event"], line["level"]) == (event, level)
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    assert line["request_id"] == "timed"


@pytest.mark.parametrize(
    "environment",
    [
        {"LEDGER_ENV": "production"},
        {"LEDGER_ENV": "development", "LOG_FORMAT": "json"},
    ],
)
def test_json_lines_in_production_and_when_asked(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    redis_url: str,
    environment: dict[str, str],
) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    for name, value in {
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "LEDGER_SECRET_KEY": SECRET_KEY,
        **environment,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    try:
        # The factory `ledger serve --workers N` runs in each worker: settings, logging, app.
        with TestClient(app_from_environment()) as client:
            client.get("/health", headers={"X-Request-ID": "json-please"})
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    finally:
        configure_logging()
    # A /health slower than the slow-request threshold (a loaded CI machine) logs its line as
    # "slow request": the same fields, at warning level.
    request = next(line for line in lines if line.get("event") in {"request", "slow request"})
    assert request["request_id"] == "json-please"
    assert request["route"] == "/health"
    assert {"timestamp", "level", "logger"} <= request.keys()


def test_console_lines_in_development(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        configure_logging("console")
        from ledger.logs import get_logger

        get_logger("ledger.test").info("hello console", answer=42)
        err = capsys.readouterr().err
    finally:
        configure_logging()
    assert "hello console" in err
    assert "answer=42" in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err.strip().splitlines()[-1])


def test_an_unexpected_database_error_is_logged_with_its_request(
    make_client: MakeClient, database_url: str, log_lines: LogLines
) -> None:
    # A read model changed under the running API (here: a column gone) is a programming error
    # the error mapping turns into a 500; the operator must find it in the log.
    client = make_client()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE products RENAME COLUMN name TO name_gone")
        try:
            log_lines.clear()
            response = client.get("/api/v1/products?sort=name", headers={"X-Request-ID": "x"})
        finally:  # the database is the session's: later tests need the column back
            conn.execute("ALTER TABLE products RENAME COLUMN name_gone TO name")
    assert response.status_code == 500
    assert "Traceback" not in response.text
    [line] = log_lines.events("unexpected error")
    assert line["level"] == "error"
    assert line["request_id"] == "x"
    assert line["error_type"] == "UndefinedColumn"
    assert line["sqlstate"] == "42703"
    assert "exception" in line


def test_an_unavailable_database_is_logged_as_a_warning(
    make_client: MakeClient, database_url: str, log_lines: LogLines
) -> None:
    client = make_client(ledger_statement_timeout_seconds=0.2)
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        log_lines.clear()
        response = client.get("/api/v1/products/prod_x", headers={"X-Request-ID": "blocked"})
    assert response.status_code == 503
    [line] = log_lines.events("database unavailable")
    assert line["level"] == "warning"
    assert line["request_id"] == "blocked"
