"""Access tokens that must not open the door: tampered, unsigned (`alg: none`), expired, not yet
valid, for another audience or issuer, signed with another key, or a refresh token presented as
an access token. Every one is a 401 with the error envelope."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest

from api.security import ALGORITHM, AUDIENCE, ISSUER
from tests.api_steps import login, register
from tests.data import SECRET_KEY, auth, unique_email
from tests.security.conftest import address_client
from tests.servers import LedgerStack


def _claims(user_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": user_id, "role": "admin", "typ": "access",
              "iat": now, "nbf": now, "exp": now + 600, "jti": "t"}  # fmt: skip
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, Any], key: str = SECRET_KEY) -> str:
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def _unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.fixture(scope="module")
def signed_in(stack: LedgerStack) -> dict[str, Any]:
    """A real customer's tokens."""
    with address_client(stack) as client:
        email = unique_email("tokens")
        user_id = register(client, email)
        tokens = login(client, email)
    return {"user_id": user_id, **tokens}


def _forgeries(signed_in: dict[str, Any]) -> dict[str, str]:
    user = signed_in["user_id"]
    access: str = signed_in["access_token"]
    head, body, signature = access.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    # The customer's own claims, with the role raised to admin, unsigned or re-signed.
    return {
        "tampered signature": f"{head}.{body}.{flipped}",
        "tampered claims": f"{head}.{_unsigned(_claims(user)).split('.')[1]}.{signature}",
        "alg none": _unsigned(_claims(user)),
        "expired": _sign(_claims(user, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
        "not yet valid": _sign(_claims(user, nbf=int(time.time()) + 3600)),
        "wrong audience": _sign(_claims(user, aud="another-api")),
        "wrong issuer": _sign(_claims(user, iss="someone-else")),
        "no expiry": _sign(_claims(user, exp=None)),
        "another key": _sign(_claims(user), key="k" * 48),
        "refresh as access": signed_in["refresh_token"],
        "refresh-typed jwt": _sign(_claims(user, typ="refresh")),
        "unknown role": _sign(_claims(user, role="root")),
        "garbage": "not.a.jwt",
    }


@pytest.mark.parametrize(
    "kind",
    ["tampered signature", "tampered claims", "alg none", "expired", "not yet valid",
     "wrong audience", "wrong issuer", "no expiry", "another key", "refresh as access",
     "refresh-typed jwt", "unknown role", "garbage"],
)  # fmt: skip
def test_a_bad_token_is_401(client: httpx.Client, signed_in: dict[str, Any], kind: str) -> None:
    token = _forgeries(signed_in)[kind]
    for method, path in (("GET", "/auth/me"), ("GET", "/reports/sales"), ("GET", "/orders")):
        response = client.request(method, path, headers=auth(token))
        assert response.status_code == 401, (kind, path, response.text)
        assert response.json()["error"]["code"] == "UNAUTHORIZED"
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_the_genuine_token_works(client: httpx.Client, signed_in: dict[str, Any]) -> None:
    """The control: the forgeries above fail for being forged, not for being a customer's."""
    response = client.get("/auth/me", headers=auth(signed_in["access_token"]))
    assert response.status_code == 200
    assert response.json()["data"]["id"] == signed_in["user_id"]


def test_a_token_that_worked_is_refused_once_it_expires(
    client: httpx.Client, signed_in: dict[str, Any]
) -> None:
    """A worker remembers the tokens it verified (api.security), never past their expiry."""
    # Expired 2 to 3 s ago: still within the 5 s leeway for 2 to 3 s more.
    token = _sign(_claims(signed_in["user_id"], exp=int(time.time()) - 2))
    assert client.get("/auth/me", headers=auth(token)).status_code == 200
    time.sleep(3.1)
    response = client.get("/auth/me", headers=auth(token))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "the access token has expired"
