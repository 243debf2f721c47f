"""Property tests: random command sequences on Product and Order aggregates (no database).

The machine drives products and orders the way `Ledger` does (an order reserves on every
product or on none; a transition moves the stock it implies) and checks after every step that
available stock never goes negative, stock adds up from the events, totals add up (order
totals, and sales: net = gross - refunds is the money of the orders that stay paid), reservations
match the orders that hold them, and every transition the spec does not allow is refused."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ledger.domain import (
    InsufficientStockError,
    InvalidTransitionError,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    ProductNotOrderableError,
)
from ledger.domain.orders import stock_action as _stock_move
from projections.changes import Changes
from projections.events import Event
from projections.sales import SALES_ORDERS, SalesProjection
from tests.unit.factories import make_order, make_product
from tests.unit.test_changes import pending
from tests.unit.test_orders import SPEC, TRANSITIONS

PRODUCTS = ("prod_a", "prod_b", "prod_c")
SALES = SalesProjection()
# An event's own attributes that the store keeps apart from its fields.
EVENT_HEADER = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})
PAID = frozenset(
    {OrderStatus.CONFIRMED, OrderStatus.PROCESSING, OrderStatus.SHIPPED, OrderStatus.DELIVERED}
)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.products: dict[str, Product] = {}
        self.history: dict[str, list[Any]] = {p: [] for p in PRODUCTS}
        self.orders: list[Order] = []
        self.sales = Changes()  # the sales projection's rows, folded from the orders' events

    def _record(self, product: Product) -> None:
        self.history[product.id].extend(product.collect_events())

    @initialize(
        stock=st.lists(st.integers(0, 20), min_size=len(PRODUCTS), max_size=len(PRODUCTS)),
        prices=st.lists(st.integers(0, 10_000), min_size=len(PRODUCTS), max_size=len(PRODUCTS)),
    )
    def create_products(self, stock: list[int], prices: list[int]) -> None:
        for product_id, on_hand, price in zip(PRODUCTS, stock, prices, strict=True):
            self.products[product_id] = make_product(product_id, price=price, on_hand=on_hand)
            self._record(self.products[product_id])

    @rule(product_id=st.sampled_from(PRODUCTS), delta=st.integers(-25, 25).filter(bool))
    def change_stock(self, product_id: str, delta: int) -> None:
        product = self.products[product_id]
        before = product.available
        try:
            product.adjust_stock(delta, "count")
        except InsufficientStockError:
            assert -delta > before
        self._record(product)

    @rule(product_id=st.sampled_from(PRODUCTS), price=st.integers(0, 10_000))
    def change_price(self, product_id: str, price: int) -> None:
        self.products[product_id].change_price(price)
        self._record(self.products[product_id])

    @rule(product_id=st.sampled_from(PRODUCTS))
    def discontinue(self, product_id: str) -> None:
        self.products[product_id].discontinue()
        self._record(self.products[product_id])

    @rule(
        items=st.dictionaries(st.sampled_from(PRODUCTS), st.integers(1, 8), min_size=1),
    )
    def place_order(self, items: dict[str, int]) -> None:
        order_id = f"ord_{len(self.orders)}"
        # Like the application: decide on copies, keep them only if every line succeeds.
        copies = {p: deepcopy(self.products[p]) for p in items}
        try:
            for product_id, quantity in items.items():
                copies[product_id].reserve(order_id, quantity)
        except (InsufficientStockError, ProductNotOrderableError):
            assert any(
                not self.products[p].is_active or q > self.products[p].available
                for p, q in items.items()
            )
            return
        lines = [OrderLine(p, copies[p].name, q, copies[p].price) for p, q in items.items()]
        self.orders.append(make_order(order_id, lines))
        self._project(self.orders[-1])
        for product_id, product in copies.items():
            self.products[product_id] = product
            self._record(product)

    @rule(pick=st.integers(0, 1_000), transition=st.sampled_from(sorted(TRANSITIONS)))
    def change_order_status(self, pick: int, transition: str) -> None:
        if not self.orders:
            return
        # Aggregates are unhashable, so an index picks the order, not sampled_from.
        order = self.orders[pick % len(self.orders)]
        source = order.status
        if (source, transition) not in SPEC:
            try:
                TRANSITIONS[transition](order)
            except InvalidTransitionError:
                assert order.status is source
                return
            raise AssertionError(f"{transition} from {source} was allowed")
        TRANSITIONS[transition](order)
        assert order.status is SPEC[(source, transition)]
        self._project(order)
        move = _stock_move(
            transition,
            source in {OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.PROCESSING},
        )
        if move:
            for line in order.lines:
                getattr(self.products[line.product_id], move)(order.id, line.quantity)
                self._record(self.products[line.product_id])

    def _project(self, order: Order) -> None:
        for e in order.collect_events():
            name = type(e).__name__
            handler = SALES.handler_for(name)
            if handler is not None:
                data = {k: v for k, v in e.__dict__.items() if k not in EVENT_HEADER}
                handler(
                    Event(0, e.originator_id, e.originator_version, name, e.timestamp, data),
                    self.sales,
                )

    @invariant()
    def sales_totals_add_up(self) -> None:
        # Gross is every order ever paid, refunds every paid order whose payment came back,
        # so net is the money of the orders that stay paid.
        rows = list(pending(self.sales, SALES_ORDERS)["upserts"].values())
        gross = sum(r["total"] for r in rows)
        refunds = sum(r["total"] for r in rows if r["returned_on"] is not None)
        kept = sum(o.total for o in self.orders if o.status in PAID)
        assert gross - refunds == kept
        assert all(r["returned_on"] is None or r["returned_on"] >= r["paid_on"] for r in rows)

    @invariant()
    def available_stock_is_never_negative(self) -> None:
        for product in self.products.values():
            assert product.reserved >= 0
            assert product.available >= 0

    @invariant()
    def on_hand_adds_up_from_the_events(self) -> None:
        sign = {"ProductCreated": 1, "StockReceived": 1, "StockAdjusted": -1, "StockShipped": -1}
        for product in self.products.values():
            total = 0
            for e in self.history[product.id]:
                name = type(e).__name__
                if name in sign:
                    total += sign[name] * (e.on_hand if name == "ProductCreated" else e.quantity)
            assert product.on_hand == total

    @invariant()
    def reservations_are_the_open_orders_lines(self) -> None:
        held = dict.fromkeys(self.products, 0)
        for order in self.orders:
            if order.holds_reservation:
                for line in order.lines:
                    held[line.product_id] += line.quantity
        assert held == {p.id: p.reserved for p in self.products.values()}

    @invariant()
    def order_totals_are_the_sum_of_their_subtotals(self) -> None:
        for order in self.orders:
            assert all(i["subtotal"] == i["quantity"] * i["unit_price"] for i in order.items)
            assert order.total == sum(i["subtotal"] for i in order.items)


LedgerMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestLedgerMachine = LedgerMachine.TestCase


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(
        st.builds(
            OrderLine,
            product_id=st.from_regex(r"prod_[a-z]{1,5}", fullmatch=True),
            name=st.text(max_size=10),
            quantity=st.integers(1, 10_000),
            unit_price=st.integers(0, 10**9),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_a_placed_order_totals_its_lines(lines: list[OrderLine]) -> None:
    order = make_order(lines=lines)
    assert order.total == sum(line.quantity * line.unit_price for line in lines)
    assert order.lines == lines


@settings(max_examples=100, deadline=None)
@given(transitions=st.lists(st.sampled_from(sorted(TRANSITIONS)), max_size=12))
def test_any_transition_sequence_follows_the_spec(transitions: list[str]) -> None:
    order = make_order()
    for transition in transitions:
        source = order.status
        expected = SPEC.get((source, transition))
        if expected is None:
            try:
                TRANSITIONS[transition](order)
            except InvalidTransitionError:
                continue
            raise AssertionError(f"{transition} from {source} was allowed")
        TRANSITIONS[transition](order)
        assert order.status is expected
