"""Idempotency keys under faults, in process on real PostgreSQL: a failure after the commit
still stores a success, re-indented JSON replays, and no secret is recoverable from the table
(their purge: tests/integration/test_housekeeping.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

import projections
from api.app import create_app
from api.security import create_access_token
from ledger.application import Ledger
from ledger.commands import CreateProduct, RegisterUser
from ledger.settings import Settings
from tests.data import SECRET_KEY

PASSWORD = "SecurePass123!@#"


def _settings(database_url: str) -> Settings:
    return Settings(
        ledger_env="test",
        ledger_secret_key=SECRET_KEY,
        database_url=database_url,
        ledger_consistency_timeout=0.2,
    )


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(database_url)), raise_server_exceptions=False) as c:
        yield c


def _orders_placed(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM ledger_events WHERE topic LIKE '%OrderPlaced%'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_failure_after_the_commit_is_stored_and_replayed(
    ledger: Ledger, database_url: str
) -> None:
    settings = _settings(database_url)
    product = ledger.create_product(
        CreateProduct(name="Lamp", description="A lamp", price=1000, category="home", stock=10)
    ).aggregate_id
    user = ledger.register_user(
        RegisterUser(name="Ann", email="ann@example.com", password_hash="unused")
    ).aggregate_id
    projections.catch_up(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        # A real post-commit fault: the projections look current, so the API reads the order
        # back, and its read model is gone.
        conn.execute("UPDATE projection_positions SET position = 4611686018427387904")
        conn.execute("ALTER TABLE orders RENAME TO orders_away")
    token, _ = create_access_token(settings, user, "customer")
    body = {
        "items": [{"product_id": product, "quantity": 1}],
        "shipping_address": {
            "full_name": "Ann",
            "address_line1": "1 Main St",
            "city": "Springfield",
            "state": "IL",
            "postal_code": "62701",
            "country": "US",
        },
        "payment_method": "card",
    }
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "order-1"}
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            first = client.post("/api/v1/orders", json=body, headers=headers)
            second = client.post("/api/v1/orders", json=body, headers=headers)
    finally:
        # The session's database is shared: later tests need their orders table back.
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE orders_away RENAME TO orders")
    assert first.status_code == 202, first.text
    assert second.status_code == 202, second.text
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json()["data"]["id"] == first.json()["data"]["id"]
    assert _orders_placed(database_url) == 1


def test_reindented_json_with_the_same_key_is_a_replay(client: TestClient) -> None:
    body = {"name": "Ann", "email": "ann@example.com", "password": PASSWORD}
    headers = {
        "Idempotency-Key": "register-ann",
        "Prefer": "respond-async",
        "Content-Type": "application/json",
    }
    first = client.post("/api/v1/auth/register", content=json.dumps(body), headers=headers)
    again = json.dumps(dict(reversed(body.items())), indent=4)
    second = client.post("/api/v1/auth/register", content=again, headers=headers)
    assert first.status_code == second.status_code == 201, second.text
    assert second.headers["Idempotent-Replayed"] == "true"


def test_no_idempotency_record_reveals_the_password(client: TestClient, database_url: str) -> None:
    raw = json.dumps({"name": "Ann", "email": "ann@example.com", "password": PASSWORD}).encode()
    headers = {"Idempotency-Key": "register-secret", "Content-Type": "application/json"}
    assert client.post("/api/v1/auth/register", content=raw, headers=headers).status_code == 201
    with psycopg.connect(database_url) as conn:
        dump = str(conn.execute("SELECT * FROM idempotency_keys").fetchall())
    assert "register-secret" in dump
    digest = hashlib.sha256()
    for part in (b"POST", b"/api/v1/auth/register", raw):
        digest.update(len(part).to_bytes(8, "big") + part)
    for secret in (PASSWORD, digest.hexdigest(), hashlib.sha256(raw).hexdigest()):
        assert secret not in dump
