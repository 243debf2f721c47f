"""/health/ready: 200 when the database, Redis and every projection are fine; 503 naming the
check that failed otherwise."""

from __future__ import annotations

import projections
from ledger.application import Ledger
from tests.observability.conftest import MakeClient
from tests.processes import free_port
from tests.projector_process import create_product


def _failing(body: dict[str, object]) -> dict[str, str]:
    error = body["error"]
    assert isinstance(error, dict)
    checks: dict[str, str] = error["details"]["checks"]
    return {name: result for name, result in checks.items() if result != "ok"}


def test_ready_when_everything_answers_and_keeps_up(
    make_client: MakeClient, ledger: Ledger, database_url: str, redis_url: str
) -> None:
    create_product(ledger, "prod_ready")
    projections.catch_up(database_url)
    client = make_client(redis_url=redis_url, ledger_lag_threshold_seconds=60)
    for path in ("/health/ready", "/api/v1/health/ready"):
        response = client.get(path)
        assert response.status_code == 200, response.text
        checks = response.json()["data"]["checks"]
        assert set(checks.values()) == {"ok"}
        assert {"database", "redis", "projection:products", "projection:sales"} <= checks.keys()


def test_not_ready_while_projections_lag_past_the_threshold(
    make_client: MakeClient, ledger: Ledger, database_url: str
) -> None:
    client = make_client(ledger_lag_threshold_seconds=0.001)
    create_product(ledger, "prod_lagging")  # and no projector runs
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    failing = _failing(body)
    # Every projection reads the product events, so every one lags.
    assert set(failing) == {f"projection:{name}" for name in projections.PROJECTIONS}
    assert all(result.startswith("lagging") for result in failing.values())
    assert "projection:products" in body["error"]["message"]
    projections.catch_up(database_url)
    assert client.get("/health/ready").status_code == 200


def test_not_ready_when_redis_does_not_answer(make_client: MakeClient) -> None:
    client = make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert set(_failing(body)) == {"redis"}
    assert "redis" in body["error"]["message"]
    assert client.get("/health").status_code == 200  # liveness touches no dependency
