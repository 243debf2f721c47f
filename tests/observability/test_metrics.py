"""/metrics: every metric the spec names after a burst of traffic, no count lost across
`ledger serve --workers 2`, and the projector process serving its own gauges."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

import projections
from ledger.application import Ledger
from tests.data import ADDRESS, PASSWORD
from tests.observability.conftest import MakeClient, admin_headers, product_body
from tests.processes import cli_env, free_port, stop, wait_until
from tests.projector_process import caught_up, create_product, head

Samples = list[tuple[str, dict[str, str], float]]
PROJECTION_NAMES = ("products", "users", "orders", "inventory", "sales", "history")


def samples(text: str) -> Samples:
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def find(all_samples: Samples, name: str, **labels: str) -> list[float]:
    return [
        value
        for sample_name, sample_labels, value in all_samples
        if sample_name == name and labels.items() <= sample_labels.items()
    ]


def _burst(client: TestClient, database_url: str) -> None:
    """Reads, commands accepted and rejected, a 404: a little of everything."""
    admin = admin_headers(client, database_url)
    asynchronously = {"Prefer": "respond-async"}
    created = client.post(
        "/api/v1/products", json=product_body(), headers={**admin, **asynchronously}
    )
    product_id = created.json()["data"]["id"]
    client.post(
        "/api/v1/auth/register",
        json={"name": "Buyer", "email": "buyer@example.com", "password": PASSWORD},
        headers=asynchronously,
    )
    projections.catch_up(database_url)
    login = client.post(
        "/api/v1/auth/login", json={"email": "buyer@example.com", "password": PASSWORD}
    )
    buyer = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
    order = client.post(
        "/api/v1/orders",
        json={
            "items": [{"product_id": product_id, "quantity": 2}],
            "shipping_address": ADDRESS,
            "payment_method": "card",
        },
        headers={**buyer, **asynchronously},
    )
    order_id = order.json()["data"]["id"]
    for _ in range(2):  # the second confirmation is rejected
        client.post(
            f"/api/v1/orders/{order_id}/confirm",
            json={"payment_intent_id": "pi_1"},
            headers={**admin, **asynchronously},
        )
    for _ in range(3):
        assert client.get(f"/api/v1/products/{product_id}").status_code == 200
    assert client.get("/api/v1/products/prod_missing").status_code == 404
    assert client.get("/api/v1/products").status_code == 200
    projections.catch_up(database_url)


def test_metrics_names_every_metric_the_spec_asks_for(
    make_client: MakeClient, database_url: str
) -> None:
    client = make_client()
    _burst(client, database_url)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)

    detail = {"method": "GET", "route": "/api/v1/products/{product_id}"}
    assert find(found, "http_requests_total", **detail, status="200")
    assert find(found, "http_requests_total", **detail, status="404")
    assert find(found, "http_request_duration_seconds_count", **detail, status="200")
    assert find(found, "http_request_duration_seconds_bucket", **detail, status="200", le="+Inf")
    assert not [labels for name, labels, _ in found
                if name == "http_requests_total" and "prod_" in labels["route"]]  # fmt: skip

    assert find(found, "ledger_commands_total", command="create_product", outcome="ok")
    assert find(found, "ledger_commands_total", command="confirm_order", outcome="ok")
    assert find(found, "ledger_commands_total", command="confirm_order", outcome="rejected")
    assert sum(find(found, "ledger_events_appended_total")) > 0

    # Refreshed from the status query on this scrape: the projector here is catch_up.
    store_head = head(database_url)
    for name in PROJECTION_NAMES:
        assert find(found, "ledger_projection_position", projection=name) == [store_head]
        assert find(found, "ledger_projection_lag_events", projection=name) == [0]
        assert find(found, "ledger_projection_lag_seconds", projection=name) == [0]
        assert find(found, "ledger_projection_dead_letters", projection=name) == [0]

    for pool in ("read", "write"):
        for state in ("size", "idle", "waiting"):
            assert find(found, "ledger_db_pool_connections", pool=pool, state=state), (pool, state)
    assert find(found, "ledger_db_pool_connections", pool="read", state="size")[0] >= 1


def test_projection_lag_shows_on_the_api_while_no_projector_runs(
    make_client: MakeClient, ledger: Ledger
) -> None:
    client = make_client()
    for number in range(3):
        create_product(ledger, f"prod_lag_{number}")
    found = samples(client.get("/metrics").text)
    assert find(found, "ledger_projection_lag_events", projection="products") == [3]
    assert find(found, "ledger_projection_position", projection="products") == [0]


def _per_worker_requests(folder: Path, route: str) -> dict[str, float]:
    """/health requests each worker process has counted, read from its own sample file."""
    counts: dict[str, float] = {}
    for path in folder.glob("counter_*.db"):
        pid = path.stem.removeprefix("counter_")
        for key, value, *_ in MmapedDict.read_all_values_from_file(  # type: ignore[no-untyped-call]
            str(path)
        ):
            _, name, labels, _ = json.loads(key)
            if name == "http_requests_total" and labels.get("route") == route:
                counts[pid] = counts.get(pid, 0) + value
    return counts


def _get_on_a_new_connection(url: str) -> int:
    # A fresh connection per request, so the kernel hands them to either worker.
    return httpx.get(url, headers={"Connection": "close"}, timeout=30).status_code


@pytest.mark.slow
def test_no_count_is_lost_across_two_workers(database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    port = free_port()
    env = {**cli_env(database_url, tmp_path), "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "ledger_cli.main", "serve", "--workers", "2",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    sent = 0
    try:
        wait_until(lambda: _answers(f"{base}/health"), 90, "both workers to answer")
        sent += 1
        statuses: Counter[int] = Counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            # Batches until both workers have served some (the kernel picks, not us).
            while len(_per_worker_requests(folder, "/health")) < 2 and sent < 2_000:
                statuses.update(pool.map(_get_on_a_new_connection, [f"{base}/health"] * 40))
                sent += 40
        assert statuses == {200: sent - 1}
        per_worker = _per_worker_requests(folder, "/health")
        text = httpx.get(f"{base}/metrics", timeout=30).text
    finally:
        stop(server)
    assert len(per_worker) == 2, per_worker
    total = sum(find(samples(text), "http_requests_total", method="GET", route="/health"))
    assert total == sent
    print(f"{sent} requests over two workers: {sorted(per_worker.values())}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_projector_process_serves_its_gauges(
    database_url: str, ledger: Ledger, tmp_path: Path
) -> None:
    for number in range(4):
        create_product(ledger, f"prod_gauge_{number}")
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "ledger_cli.main", "projector", "run", "products", "inventory",
         "--metrics-port", str(port), "--poll-seconds", "0.2"],
        env=cli_env(database_url, tmp_path), cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    store_head = head(database_url)
    scraped: list[Samples] = []

    def gauges_at_head() -> bool:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return False
        scraped.append(samples(text))
        return all(
            find(scraped[-1], "ledger_projection_position", projection=name) == [store_head]
            for name in ("products", "inventory")
        )

    try:
        wait_until(caught_up(database_url, ["products", "inventory"]), 60, "the projector")
        # The workers refresh their gauges every couple of seconds.
        wait_until(gauges_at_head, 30, "the projector's gauges to reach the head")
    finally:
        stop(process)
    found: list[Any] = scraped[-1]
    for name in ("products", "inventory"):
        assert find(found, "ledger_projection_lag_events", projection=name) == [0]
        assert find(found, "ledger_projection_dead_letters", projection=name) == [0]
        assert find(found, "ledger_projection_events_total", projection=name) == [4]
