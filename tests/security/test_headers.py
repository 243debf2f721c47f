"""Security headers on every response, whatever its status, and CORS closed unless configured:
a preflight from an origin not on the list gets no Access-Control-Allow-Origin."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.settings import Settings
from tests.data import auth

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
ALLOWED_ORIGIN = "https://shop.example"


def _responses(client: httpx.Client, admin: str) -> list[httpx.Response]:
    big = b'{"name": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    return [
        client.get("/products"),  # 200
        client.get("/products/prod_nope"),  # 404
        client.get("/orders"),  # 401
        client.get("/reports/sales", params={"from": "x"}, headers=auth(admin)),  # 422
        client.post("/products", content=big, headers={"Content-Type": "application/json"}),
        client.put("/products"),  # 405
        client.get("/health/ready"),
        client.get("/openapi.json"),
        client.request("OPTIONS", "/products"),
    ]


def test_every_response_carries_the_security_headers(client: httpx.Client, admin: str) -> None:
    responses = _responses(client, admin)
    assert {r.status_code for r in responses} >= {200, 401, 404, 405, 413, 422}
    for response in responses:
        for name, value in EXPECTED.items():
            assert response.headers.get(name) == value, (response.request.url, name)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-request-id"]
        assert float(response.headers["x-process-time"]) >= 0
        assert "server" not in response.headers


def test_cors_is_closed_when_not_configured(client: httpx.Client) -> None:
    preflight = client.options(
        "/products",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.get("/products", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


@pytest.fixture
def cors_app(database_url: str, redis_url: str) -> Iterator[TestClient]:
    settings = Settings(
        ledger_env="test", ledger_secret_key="x" * 48, database_url=database_url,
        redis_url=redis_url, ledger_cors_origins=ALLOWED_ORIGIN,
    )  # fmt: skip
    with TestClient(create_app(settings)) as client:
        yield client


def test_configured_cors_admits_only_the_listed_origins(cors_app: TestClient) -> None:
    def preflight(origin: str) -> httpx.Response:
        response: httpx.Response = cors_app.options(
            "/api/v1/products",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        return response

    allowed = preflight(ALLOWED_ORIGIN)
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "access-control-allow-credentials" not in allowed.headers
    refused = preflight("https://evil.example")
    assert "access-control-allow-origin" not in refused.headers
    assert refused.headers["x-content-type-options"] == "nosniff"
