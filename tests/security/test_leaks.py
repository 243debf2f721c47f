"""Secrets stay secret: after sign-ups, sign-ins, refreshes, failed and malformed attempts, no
password, token, Authorization header value or signing key appears in any log line of the API
or the projectors (at DEBUG), nor in any response that is not meant to carry it."""

from __future__ import annotations

import httpx

from tests.data import PASSWORD, SECRET_KEY, auth, unique_email
from tests.security.conftest import address_client
from tests.servers import LedgerStack

OTHER_PASSWORD = "An0ther-Secret-Pass!"


def test_no_secret_reaches_a_log_or_an_error(stack: LedgerStack) -> None:
    secrets: set[str] = {SECRET_KEY, PASSWORD, OTHER_PASSWORD}
    bodies: list[str] = []
    with address_client(stack) as client:
        email = unique_email("leak")
        bodies.append(client.post("/auth/register", json={
            "name": "Leak", "email": email, "password": PASSWORD}).text)  # fmt: skip
        # A weak password, a duplicate, a wrong one, a malformed body: the error paths.
        for payload in (
            {"name": "W", "email": unique_email(), "password": "weak-password"},
            {"name": "D", "email": email, "password": OTHER_PASSWORD},
            {"name": "X", "email": "not an email", "password": OTHER_PASSWORD, "extra": 1},
        ):
            bodies.append(client.post("/auth/register", json=payload).text)
        bodies.append(
            client.post("/auth/login", json={"email": email, "password": OTHER_PASSWORD}).text
        )
        signed_in = client.post("/auth/login", json={"email": email, "password": PASSWORD})
        tokens = signed_in.json()["data"]
        access, refresh = tokens["access_token"], tokens["refresh_token"]
        rotated = client.post("/auth/refresh", json={"refresh_token": refresh}).json()["data"]
        secrets |= {access, refresh, rotated["access_token"], rotated["refresh_token"]}
        bodies.append(client.post("/auth/refresh", json={"refresh_token": refresh}).text)
        bodies.append(client.get("/auth/me", headers=auth(access + "x")).text)
        bodies.append(client.get("/reports/sales", headers=auth(access)).text)
        bodies.append(client.get("/auth/me", headers={"Authorization": f"Token {access}"}).text)
        bodies.append(client.post("/orders", json={"password": PASSWORD},
                                  headers=auth(access)).text)  # fmt: skip
        assert client.get("/auth/me", headers=auth(rotated["access_token"])).status_code == 200

    for body in bodies:
        for secret in secrets:
            assert secret not in body, f"a response carries a secret: {body[:200]}"
    logs = stack.logs()
    assert '"event": "request"' in logs, "the API logged nothing: the check would be empty"
    for secret in secrets:
        # The first 24 characters are enough to find a token or key, whole or cut.
        assert secret[:24] not in logs, "a secret reached a log line"
    assert "Bearer " not in logs


def test_docs_and_errors_carry_no_stack_trace(client: httpx.Client) -> None:
    for response in (
        client.post("/orders", content=b"{", headers={"Content-Type": "application/json"}),
        client.get("/orders/%00"),
        client.get("/nowhere"),
    ):
        assert response.status_code < 500
        assert "Traceback" not in response.text
        assert 'File "' not in response.text
