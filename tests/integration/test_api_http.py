"""The HTTP surface in process (TestClient runs the lifespan): envelopes for every failure,
trailing slashes, headers, body cap, OpenAPI, and idempotency replays."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

import projections
from api.app import create_app
from api.middleware import MAX_BODY_BYTES
from ledger.settings import Settings

PASSWORD = "SecurePass123!@#"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(
        ledger_env="test",  # type: ignore[arg-type]
        ledger_secret_key="k" * 48,
        database_url=database_url,
        ledger_consistency_timeout=0.2,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _error(response: object, status: int, code: str) -> None:
    assert response.status_code == status  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["success"] is False
    assert body["error"]["code"] == code


def test_every_failure_has_the_error_envelope(client: TestClient) -> None:
    _error(client.get("/api/v1/nowhere"), 404, "NOT_FOUND")
    _error(client.put("/api/v1/products"), 405, "METHOD_NOT_ALLOWED")
    _error(
        client.post(
            "/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
        "VALIDATION_ERROR",
    )
    _error(client.post("/api/v1/auth/login", json={"email": "a"}), 422, "VALIDATION_ERROR")
    _error(client.get("/api/v1/products", params={"q": "a\x00b"}), 422, "VALIDATION_ERROR")
    _error(client.get("/api/v1/products", params={"page_size": 1000}), 422, "VALIDATION_ERROR")
    _error(client.get("/api/v1/auth/me"), 401, "UNAUTHORIZED")
    _error(
        client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not.a.jwt"}),
        401,
        "UNAUTHORIZED",
    )
    oversized = b'{"email": "' + b"a" * MAX_BODY_BYTES + b'"}'
    _error(client.post("/api/v1/auth/login", content=oversized), 413, "PAYLOAD_TOO_LARGE")


def test_paths_answer_with_and_without_a_trailing_slash(client: TestClient) -> None:
    for path in ("/api/v1/products", "/api/v1/products/", "/health", "/health/"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 200, path


def test_headers_on_every_response(client: TestClient) -> None:
    echoed = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    assert float(echoed.headers["X-Process-Time"]) >= 0
    assert echoed.headers["X-Content-Type-Options"] == "nosniff"
    assert echoed.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in echoed.headers["Content-Security-Policy"]
    made = client.get("/api/v1/nowhere", headers={"X-Request-ID": "bad id\twith junk"})
    assert made.headers["X-Request-ID"] != "bad id\twith junk"
    assert len(made.headers["X-Request-ID"]) == 32
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "Content-Security-Policy" not in docs.headers


def test_openapi_documents_every_route_with_a_summary(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operations = [op for item in schema["paths"].values() for op in item.values()]
    assert len(operations) >= 25
    assert all(op.get("summary") or op.get("description") for op in operations)


def test_metrics_are_labelled_by_route_template(client: TestClient) -> None:
    client.get("/api/v1/products/prod_unknown_1")
    text = client.get("/metrics").text
    assert 'route="/api/v1/products/{product_id}"' in text
    assert "prod_unknown_1" not in text


def test_register_replays_with_the_same_idempotency_key(
    client: TestClient, database_url: str
) -> None:
    body = {"name": "Ann", "email": "ann@example.com", "password": PASSWORD}
    headers = {"Idempotency-Key": "register-ann", "Prefer": "respond-async"}
    first = client.post("/api/v1/auth/register", json=body, headers=headers)
    second = client.post("/api/v1/auth/register", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["X-Ledger-Position"] == first.headers["X-Ledger-Position"]
    other = client.post("/api/v1/auth/register", json={**body, "name": "Bob"}, headers=headers)
    _error(other, 422, "IDEMPOTENCY_KEY_REUSED")
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_events").fetchone()
    assert row is not None
    assert row[0] == 2  # one UserRegistered and one EmailClaimed: no second effect


def test_read_your_writes_wakes_on_the_projector(client: TestClient, database_url: str) -> None:
    registered = client.post(
        "/api/v1/auth/register",
        json={"name": "Cy", "email": "cy@example.com", "password": PASSWORD},
        headers={"Prefer": "respond-async"},
    )
    position = registered.headers["X-Ledger-Position"]
    # No projector yet: the consistency wait times out and says so.
    stale = client.get("/api/v1/products", headers={"X-Ledger-Consistency": position})
    assert stale.headers["X-Ledger-Stale"] == "true"
    projections.catch_up(database_url)
    fresh = client.get("/api/v1/products", headers={"X-Ledger-Consistency": position})
    assert "X-Ledger-Stale" not in fresh.headers
    login = client.post(
        "/api/v1/auth/login", json={"email": "cy@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
