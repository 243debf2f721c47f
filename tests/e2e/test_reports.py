"""Every report checked against sums the test computes itself from what it did, on a stack
with its own database so no other test's orders count."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.api_steps import register_and_login, sign_in_admin
from tests.data import ADDRESS, auth
from tests.e2e.conftest import STACK_SETTINGS, create_product
from tests.processes import redis_database
from tests.servers import LedgerStack, StartStack


@pytest.fixture(scope="module")
def own_stack(start_stack: StartStack, redis_server_url: str) -> Iterator[LedgerStack]:
    with start_stack("e2e-reports", redis_database(redis_server_url), **STACK_SETTINGS) as running:
        yield running


def test_reports_add_up(own_stack: LedgerStack) -> None:
    with own_stack.client() as client:
        admin_token = sign_in_admin(own_stack)
        admin = auth(admin_token)
        prices = {"a": "10.00", "b": "2.50", "c": "7.25"}
        products = {
            k: create_product(client, admin_token, price=p, stock=100) for k, p in prices.items()
        }
        _, token = register_and_login(client)
        plans = [  # (lines, final action)
            ({"a": 2, "b": 4}, "confirm"),
            ({"b": 1}, "confirm"),
            ({"c": 3, "a": 1}, "refund"),
            ({"c": 5}, "cancel"),
            ({"b": 2, "a": 1}, "paid-cancel"),
            ({"a": 1}, None),
        ]
        last_position = 0

        def command(path: str, body: object, headers: dict[str, str]) -> dict[str, str]:
            nonlocal last_position
            response = client.post(path, json=body, headers=headers)
            assert response.status_code in {200, 201}, response.text
            last_position = max(last_position, int(response.headers["X-Ledger-Position"]))
            data: dict[str, str] = response.json()["data"]
            return data

        gross = refunds = Decimal(0)
        orders = items = 0
        quantity: dict[str, int] = {}
        revenue: dict[str, Decimal] = {}
        for lines, action in plans:
            body = {
                "items": [
                    {"product_id": products[k]["id"], "quantity": q} for k, q in lines.items()
                ],
                "shipping_address": ADDRESS,
                "payment_method": "card",
            }
            order = command("/orders", body, auth(token))
            total = sum(Decimal(prices[k]) * q for k, q in lines.items())
            if action in {"confirm", "refund", "paid-cancel"}:
                command(f"/orders/{order['id']}/confirm", {"payment_intent_id": "pi"}, admin)
                orders += 1
                items += sum(lines.values())
                gross += total
                for k, q in lines.items():
                    quantity[k] = quantity.get(k, 0) + q
                    revenue[k] = revenue.get(k, Decimal(0)) + Decimal(prices[k]) * q
            if action == "refund":
                command(f"/orders/{order['id']}/refund", {"reason": "x"}, admin)
            if action in {"cancel", "paid-cancel"}:
                command(f"/orders/{order['id']}/cancel", {}, auth(token))
            if action in {"refund", "paid-cancel"}:
                # The payment comes back: refunds count it, best sellers take its lines back.
                refunds += total
                for k, q in lines.items():
                    quantity[k] -= q
                    revenue[k] -= Decimal(prices[k]) * q

        # The reports read other projections than the commands waited for: ask for them.
        admin = {**admin, "X-Ledger-Consistency": str(last_position)}
        today = datetime.now(UTC).date().isoformat()
        sales = client.get("/reports/sales", params={"from": today, "to": today}, headers=admin)
        assert sales.status_code == 200
        [row] = sales.json()["data"]
        assert (row["orders"], row["items"]) == (orders, items)
        assert Decimal(row["gross"]) == gross
        assert Decimal(row["refunds"]) == refunds
        assert Decimal(row["net"]) == gross - refunds
        monthly = client.get("/reports/sales", params={"granularity": "month"}, headers=admin)
        assert Decimal(monthly.json()["data"][-1]["gross"]) == gross
        assert Decimal(monthly.json()["data"][-1]["net"]) == gross - refunds

        top = client.get("/reports/products/top", params={"by": "quantity"}, headers=admin)
        by_id = {products[k]["id"]: k for k in products}
        got = {by_id[r["product_id"]]: r["quantity"] for r in top.json()["data"]}
        assert got == {k: q for k, q in quantity.items() if q > 0}
        top_revenue = client.get("/reports/products/top", params={"limit": 1}, headers=admin)
        best = max(revenue, key=lambda k: revenue[k])
        assert [r["product_id"] for r in top_revenue.json()["data"]] == [products[best]["id"]]

        inventory = client.get("/reports/inventory", headers=admin).json()
        rows = {by_id[r["product_id"]]: r for r in inventory["data"]}
        # Confirmed and pending orders hold their reservations until shipped; the cancelled
        # order and the refunded one (refunded before shipment) gave theirs back.
        assert {k: r["reserved"] for k, r in rows.items()} == {"a": 3, "b": 5, "c": 0}
        for k, r in rows.items():
            assert Decimal(r["stock_value"]) == Decimal(prices[k]) * r["on_hand"]
            assert r["available"] == r["on_hand"] - r["reserved"]
        low = client.get("/reports/inventory", params={"low_stock_below": 96}, headers=admin)
        assert {by_id[r["product_id"]] for r in low.json()["data"]} == {"b"}

        status = client.get("/reports/orders/status", headers=admin).json()["data"]
        counts = {r["status"]: r["count"] for r in status}
        assert counts["confirmed"] == 2
        assert counts["refunded"] == 1
        assert counts["cancelled"] == 2
        assert counts["pending"] == 1
        assert sum(counts.values()) == len(plans)
