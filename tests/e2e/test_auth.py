"""Register, login, refresh, me and the login rate limit, over HTTP."""

from __future__ import annotations

import httpx

from tests.data import PASSWORD, auth, unique_email
from tests.e2e.conftest import LOGIN_FAILURES_ALLOWED


def test_register_answers_201_with_the_envelope_and_no_password(client: httpx.Client) -> None:
    email = unique_email()
    response = client.post(
        "/auth/register/", json={"name": "John Doe", "email": email, "password": PASSWORD}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert body["data"]["email"] == email
    assert body["data"]["role"] == "customer"
    assert "password" not in body["data"]
    assert "password_hash" not in body["data"]
    assert int(response.headers["X-Ledger-Position"]) > 0


def test_login_right_after_register_returns_both_tokens_and_me_works(
    client: httpx.Client,
) -> None:
    email = unique_email()
    client.post("/auth/register", json={"name": "Jane", "email": email, "password": PASSWORD})
    login = client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    tokens = login.json()["data"]
    assert tokens["token_type"] == "bearer"
    assert tokens["refresh_token"]
    assert tokens["expires_in"] > 0
    me = client.get("/auth/me", headers=auth(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json()["data"]["email"] == email
    assert "password_hash" not in me.json()["data"]


def test_duplicate_email_is_a_conflict_and_weak_password_a_validation_error(
    client: httpx.Client,
) -> None:
    email = unique_email()
    first = client.post("/auth/register", json={"name": "A", "email": email, "password": PASSWORD})
    assert first.status_code == 201
    again = client.post(
        "/auth/register", json={"name": "B", "email": email.upper(), "password": PASSWORD}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "CONFLICT"
    weak = client.post(
        "/auth/register", json={"name": "C", "email": unique_email(), "password": "short"}
    )
    assert weak.status_code == 422
    assert weak.json()["error"]["code"] == "VALIDATION_ERROR"


def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.Client) -> None:
    email = unique_email()
    client.post("/auth/register", json={"name": "R", "email": email, "password": PASSWORD})
    first = client.post("/auth/login", json={"email": email, "password": PASSWORD}).json()["data"]

    second = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    pair = second.json()["data"]
    assert pair["refresh_token"] != first["refresh_token"]
    assert client.get("/auth/me", headers=auth(pair["access_token"])).status_code == 200

    reused = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    # The reuse revoked the whole family: the newest token is dead too.
    after = client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "UNAUTHORIZED"


def test_wrong_password_is_401_and_repeated_failures_are_rate_limited(
    client: httpx.Client,
) -> None:
    email = unique_email()
    client.post("/auth/register", json={"name": "L", "email": email, "password": PASSWORD})
    for _ in range(LOGIN_FAILURES_ALLOWED):
        wrong = client.post("/auth/login", json={"email": email, "password": "Wrong-pass-123!"})
        assert wrong.status_code == 401
    limited = client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) > 0


def test_unknown_email_is_the_same_401(client: httpx.Client) -> None:
    response = client.post("/auth/login", json={"email": unique_email(), "password": PASSWORD})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "invalid email or password"
