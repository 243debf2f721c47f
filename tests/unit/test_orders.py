"""The Order aggregate: placement rules and every transition of its lifecycle."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger import personal
from ledger.domain import InvalidTransitionError, Order, OrderLine, OrderStatus, ValidationError
from ledger.domain.orders import ALLOWED
from tests.data import SHIPPING_ADDRESS
from tests.unit.factories import CUSTOMER_KEY, SEALED_ADDRESS, make_order

S = OrderStatus

# Each transition, called with valid arguments.
TRANSITIONS: dict[str, Callable[[Order], None]] = {
    "confirm": lambda o: o.confirm("pi_1", "usr_admin"),
    "process": lambda o: o.process("usr_admin"),
    "ship": lambda o: o.ship("UPS", "1Z999", "usr_admin"),
    "deliver": lambda o: o.deliver("usr_admin"),
    "cancel": lambda o: o.cancel("changed my mind", "usr_c"),
    "refund": lambda o: o.refund("damaged", "usr_admin"),
}
# The spec's lifecycle, written out independently of ledger.domain.orders.ALLOWED.
SPEC: dict[tuple[OrderStatus, str], OrderStatus] = {
    (S.PENDING, "confirm"): S.CONFIRMED,
    (S.CONFIRMED, "process"): S.PROCESSING,
    (S.PROCESSING, "ship"): S.SHIPPED,
    (S.SHIPPED, "deliver"): S.DELIVERED,
    (S.PENDING, "cancel"): S.CANCELLED,
    (S.CONFIRMED, "cancel"): S.CANCELLED,
    (S.PROCESSING, "cancel"): S.CANCELLED,
    (S.CONFIRMED, "refund"): S.REFUNDED,
    (S.PROCESSING, "refund"): S.REFUNDED,
    (S.SHIPPED, "refund"): S.REFUNDED,
    (S.DELIVERED, "refund"): S.REFUNDED,
}
# The shortest way from pending to each status.
PATHS: dict[OrderStatus, list[str]] = {
    S.PENDING: [],
    S.CONFIRMED: ["confirm"],
    S.PROCESSING: ["confirm", "process"],
    S.SHIPPED: ["confirm", "process", "ship"],
    S.DELIVERED: ["confirm", "process", "ship", "deliver"],
    S.CANCELLED: ["cancel"],
    S.REFUNDED: ["confirm", "refund"],
}


def order_in(status: OrderStatus) -> Order:
    order = make_order()
    for transition in PATHS[status]:
        TRANSITIONS[transition](order)
    assert order.status is status
    order.collect_events()
    return order


def test_place_prices_lines_and_totals_them() -> None:
    order = make_order(lines=[OrderLine("prod_a", "A", 2, 1000), OrderLine("prod_b", "B", 3, 333)])
    assert order.status is S.PENDING
    assert order.total == 2 * 1000 + 3 * 333
    assert [item["subtotal"] for item in order.items] == [2000, 999]
    assert order.lines == [OrderLine("prod_a", "A", 2, 1000), OrderLine("prod_b", "B", 3, 333)]
    opened = personal.unseal(
        CUSTOMER_KEY, "usr_c", "shipping_address", order.shipping_address, None
    )
    assert opened == SHIPPING_ADDRESS.as_event_data()
    assert (order.payment_intent_id, order.carrier, order.tracking_number) == (None, None, None)
    assert order.holds_reservation
    [placed] = order.collect_events()
    assert type(placed).__name__ == "OrderPlaced"


def test_place_needs_at_least_one_line() -> None:
    with pytest.raises(ValidationError):
        Order.place(
            "ord_x",
            customer_id="usr_c",
            lines=[],
            currency="USD",
            shipping_address=SEALED_ADDRESS,
            payment_method="card",
        )


@pytest.mark.parametrize("quantity", [0, -2])
def test_place_needs_positive_quantities(quantity: int) -> None:
    with pytest.raises(ValidationError):
        make_order(lines=[OrderLine("prod_a", "A", quantity, 100)])


def test_the_domain_table_matches_the_spec() -> None:
    from_table = {(s, t) for t, sources in ALLOWED.items() for s in sources}
    assert from_table == set(SPEC)


@pytest.mark.parametrize(("source", "transition"), sorted(SPEC))
def test_every_allowed_transition_reaches_its_status(source: OrderStatus, transition: str) -> None:
    order = order_in(source)
    TRANSITIONS[transition](order)
    assert order.status is SPEC[(source, transition)]
    assert len(order.collect_events()) == 1


DISALLOWED = sorted(
    (status, transition)
    for status in OrderStatus
    for transition in TRANSITIONS
    if (status, transition) not in SPEC
)


@pytest.mark.parametrize(("source", "transition"), DISALLOWED)
def test_every_other_transition_is_refused(source: OrderStatus, transition: str) -> None:
    order = order_in(source)
    with pytest.raises(InvalidTransitionError) as caught:
        TRANSITIONS[transition](order)
    assert caught.value.code == "INVALID_TRANSITION"
    assert caught.value.details == {"status": source.value, "transition": transition}
    assert order.status is source
    assert order.collect_events() == []


def test_confirm_records_payment_and_the_sales_lines() -> None:
    order = make_order(lines=[OrderLine("prod_a", "A", 2, 500)])
    order.collect_events()
    order.confirm("pi_42", "usr_admin")
    [confirmed] = order.collect_events()
    assert order.payment_intent_id == "pi_42"
    assert confirmed.total == 1000  # type: ignore[attr-defined]
    assert confirmed.lines == [  # type: ignore[attr-defined]
        {"product_id": "prod_a", "quantity": 2, "subtotal": 1000}
    ]


def test_ship_records_carrier_and_tracking_number() -> None:
    order = order_in(S.PROCESSING)
    order.ship("DHL", "JD0001", "usr_admin")
    assert (order.carrier, order.tracking_number) == ("DHL", "JD0001")
    assert not order.holds_reservation


@pytest.mark.parametrize("source", [S.PENDING, S.CONFIRMED, S.PROCESSING])
def test_cancel_records_the_previous_status(source: OrderStatus) -> None:
    order = order_in(source)
    order.cancel("no longer needed", "usr_c")
    [cancelled] = order.collect_events()
    assert cancelled.previous_status == source.value  # type: ignore[attr-defined]
    assert cancelled.reason == "no longer needed"  # type: ignore[attr-defined]
    assert not order.holds_reservation


@pytest.mark.parametrize("source", [S.CONFIRMED, S.PROCESSING, S.SHIPPED, S.DELIVERED])
def test_refund_records_the_amount_and_previous_status(source: OrderStatus) -> None:
    order = order_in(source)
    order.refund("broken", "usr_admin")
    [refunded] = order.collect_events()
    assert refunded.amount == order.total  # type: ignore[attr-defined]
    assert refunded.previous_status == source.value  # type: ignore[attr-defined]
    assert refunded.lines == [  # type: ignore[attr-defined]
        {"product_id": "prod_t", "quantity": 2, "subtotal": 5998}
    ]


def test_holds_reservation_only_while_not_shipped_or_closed() -> None:
    holding = {status for status in OrderStatus if order_in(status).holds_reservation}
    assert holding == {S.PENDING, S.CONFIRMED, S.PROCESSING}
