"""Stateful testing by hand (the OpenAPI declares no links for schemathesis to follow): a
hypothesis state machine drives random sequences of catalog and order commands over HTTP and
checks every answer, and the stock it reads back, against a model of the contract."""

from __future__ import annotations

from dataclasses import dataclass

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from tests.data import auth, order_body
from tests.fuzz.conftest import FuzzWorld
from tests.processes import wait_until
from tests.projector_process import caught_up
from tests.servers import create_product

# From status, the transitions the contract allows, and where each leads.
TRANSITIONS = {
    "pending": {"confirm": "confirmed", "cancel": "cancelled"},
    "confirmed": {"process": "processing", "cancel": "cancelled", "refund": "refunded"},
    "processing": {"ship": "shipped", "cancel": "cancelled", "refund": "refunded"},
    "shipped": {"deliver": "delivered", "refund": "refunded"},
    "delivered": {"refund": "refunded"},
    "cancelled": {},
    "refunded": {},
}
BODIES = {
    "confirm": {"payment_intent_id": "pi_1"},
    "ship": {"carrier": "UPS", "tracking_number": "1Z"},
    "cancel": {"reason": "changed my mind"},
    "refund": {"reason": "broken"},
}
HELD = {"pending", "confirmed", "processing"}


@dataclass
class Stock:
    on_hand: int
    reserved: int = 0


@dataclass
class Order:
    product: str
    quantity: int
    status: str = "pending"


class LedgerMachine(RuleBasedStateMachine):
    world: FuzzWorld
    products = Bundle("products")
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.client = self.world.stack.client()
        self.stock: dict[str, Stock] = {}
        self.placed: dict[str, Order] = {}

    def teardown(self) -> None:
        self.client.close()

    def _settle(self) -> None:
        wait_until(caught_up(self.world.stack.database_url), 30, "the projections")

    def _create(self, units: int) -> str:
        product = create_product(self.client, self.world.admin, stock=units)
        self.stock[product] = Stock(units)
        return product

    @initialize(target=products, units=st.integers(0, 6))
    def first_product(self, units: int) -> str:
        return self._create(units)

    @rule(target=products, units=st.integers(0, 6))
    def new_product(self, units: int) -> str:
        return self._create(units)

    @rule(product=products, delta=st.integers(-4, 4).filter(bool))
    def change_stock(self, product: str, delta: int) -> None:
        response = self.client.post(f"/products/{product}/stock", headers=auth(self.world.admin),
                                    json={"delta": delta, "reason": "count"})  # fmt: skip
        stock = self.stock[product]
        if stock.on_hand + delta < stock.reserved:
            assert response.status_code in {409, 422}, response.text
        else:
            assert response.status_code in {200, 202}, response.text
            stock.on_hand += delta

    @rule(target=orders, product=products, quantity=st.integers(1, 3))
    def place(self, product: str, quantity: int) -> str:
        response = self.client.post("/orders", json=order_body(product, quantity),
                                    headers=auth(self.world.customer))  # fmt: skip
        stock = self.stock[product]
        if stock.on_hand - stock.reserved < quantity:
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] == "INSUFFICIENT_STOCK"
            return "ord_refused"
        assert response.status_code in {201, 202}, response.text
        order_id = str(response.json()["data"]["id"])
        stock.reserved += quantity
        self.placed[order_id] = Order(product, quantity)
        return order_id

    @rule(order_id=orders, transition=st.sampled_from(sorted({*BODIES, "process", "deliver"})))
    def move(self, order_id: str, transition: str) -> None:
        response = self.client.post(f"/orders/{order_id}/{transition}",
                                    json=BODIES.get(transition, {}),
                                    headers=auth(self.world.admin))  # fmt: skip
        order = self.placed.get(order_id)
        if order is None:
            assert response.status_code == 404, response.text
            return
        after = TRANSITIONS[order.status].get(transition)
        if after is None:
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] == "INVALID_TRANSITION"
            return
        assert response.status_code in {200, 202}, response.text
        stock = self.stock[order.product]
        if after == "shipped":
            stock.on_hand -= order.quantity
            stock.reserved -= order.quantity
        elif after in {"cancelled", "refunded"} and order.status in HELD:
            stock.reserved -= order.quantity
        order.status = after

    @invariant()
    def reads_agree_with_the_model(self) -> None:
        if not self.stock:
            return
        self._settle()
        for product, stock in self.stock.items():
            data = self.client.get(f"/products/{product}").json()["data"]
            assert (data["on_hand"], data["reserved"], data["available"]) == (
                stock.on_hand, stock.reserved, stock.on_hand - stock.reserved,
            )  # fmt: skip
        for order_id, order in self.placed.items():
            response = self.client.get(f"/orders/{order_id}", headers=auth(self.world.admin))
            assert response.json()["data"]["status"] == order.status


@pytest.mark.slow
def test_random_command_sequences_keep_the_contract(world: FuzzWorld) -> None:
    LedgerMachine.world = world
    run = LedgerMachine.TestCase
    run.settings = settings(
        max_examples=10, stateful_step_count=15, deadline=None, database=None,
        derandomize=True, suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    run().runTest()
