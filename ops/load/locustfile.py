"""The seed's load test (roadmap Step 4.2) against the ledger's API.

Each user registers and logs in, then browses: product list x3, product detail x2, place
order x1 (weights), waiting 1 to 3 s between tasks. Run it headless with `make load`
(ops/load/run.py), which starts a fresh ledger, runs this file and writes its statistics.

The users are locust's FastHttpUser (geventhttpclient) rather than the seed's HttpUser
(requests): the same requests, at several times less CPU per request, and the load generator
shares this machine's two cores with the ledger it measures."""

from __future__ import annotations

import uuid

from locust import FastHttpUser, between, task

PASSWORD = "SecurePass123!@#"  # noqa: S105 - a throwaway load-test user's password
ORDER = {
    "items": [{"product_id": "prod_1", "quantity": 2, "price": 29.99}],
    "shipping_address": {
        "full_name": "Test User",
        "address_line1": "123 Test St",
        "city": "Test City",
        "state": "TS",
        "postal_code": "12345",
        "country": "US",
    },
    "payment_method": "stripe",
}


class EcommerceUser(FastHttpUser):
    wait_time = between(1, 3)

    def on_start(self) -> None:
        """Register and log in before the tasks start."""
        # A uuid, not the seed's random 1..100000: two users must never share an email.
        email = f"loadtest-{uuid.uuid4().hex}@test.com"
        self.client.post(
            "/api/v1/auth/register",
            json={"name": "Load Test User", "email": email, "password": PASSWORD},
            name="/api/v1/auth/register",
        )
        response = self.client.post(
            "/api/v1/auth/login",
            json={"email": email, "password": PASSWORD},
            name="/api/v1/auth/login",
        )
        self.token = response.json()["data"]["access_token"]

    @task(3)
    def view_products(self) -> None:
        self.client.get("/api/v1/products")

    @task(2)
    def view_product_detail(self) -> None:
        self.client.get("/api/v1/products/prod_1")

    @task(1)
    def create_order(self) -> None:
        self.client.post(
            "/api/v1/orders", json=ORDER, headers={"Authorization": f"Bearer {self.token}"}
        )
