"""The Order aggregate and its lifecycle.

    pending --confirm--> confirmed --process--> processing --ship--> shipped --deliver--> delivered
    pending | confirmed | processing --cancel--> cancelled
    confirmed | processing | shipped | delivered --refund--> refunded

The order decides whether a transition is allowed and which stock moves it implies: each
transition method returns them (`StockMove`s, for the application to apply to the products).
Confirm and refund events carry the order's lines and amounts so that the sales reports can be
projected from those events alone."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from eventsourcing.domain import event

from ledger import contract
from ledger.domain.base import LedgerAggregate
from ledger.domain.errors import InvalidTransitionError, ValidationError
from ledger.domain.stock import StockAction, StockMove


class OrderStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


S = OrderStatus
ALLOWED: dict[str, frozenset[OrderStatus]] = {
    "confirm": frozenset({S.PENDING}),
    "process": frozenset({S.CONFIRMED}),
    "ship": frozenset({S.PROCESSING}),
    "deliver": frozenset({S.SHIPPED}),
    "cancel": frozenset({S.PENDING, S.CONFIRMED, S.PROCESSING}),
    "refund": frozenset({S.CONFIRMED, S.PROCESSING, S.SHIPPED, S.DELIVERED}),
}
# Statuses in which the order still holds a stock reservation.
HOLDS_RESERVATION = frozenset({S.PENDING, S.CONFIRMED, S.PROCESSING})
# What a transition does to each line's stock, when the order held its reservation before it
# (`held`) and when not; a transition absent here moves no stock.
STOCK_MOVES: dict[str, tuple[StockAction | None, StockAction | None]] = {
    "ship": (StockAction.SHIP, StockAction.SHIP),
    "cancel": (StockAction.RELEASE, StockAction.RELEASE),
    "refund": (StockAction.RELEASE, None),  # a refund after shipment has nothing reserved
}


def stock_action(transition: str, held: bool) -> StockAction | None:
    """The stock action a transition applies to each line, if any (`STOCK_MOVES`)."""
    if_held, if_not = STOCK_MOVES.get(transition, (None, None))
    return if_held if held else if_not


@dataclass(frozen=True)
class OrderLine:
    product_id: str
    name: str
    quantity: int
    unit_price: int

    @property
    def subtotal(self) -> int:
        return self.quantity * self.unit_price

    def as_event_data(self) -> contract.OrderItem:
        return contract.OrderItem(
            product_id=self.product_id,
            name=self.name,
            quantity=self.quantity,
            unit_price=self.unit_price,
            subtotal=self.subtotal,
        )


@dataclass(frozen=True)
class ShippingAddress:
    full_name: str
    address_line1: str
    city: str
    state: str
    postal_code: str
    country: str
    address_line2: str | None = None

    def as_event_data(self) -> contract.ShippingAddress:
        return contract.ShippingAddress(
            full_name=self.full_name,
            address_line1=self.address_line1,
            city=self.city,
            state=self.state,
            postal_code=self.postal_code,
            country=self.country,
            address_line2=self.address_line2,
        )


class Order(LedgerAggregate):
    """A customer's order; its lines keep the catalog price taken at placement."""

    @event(contract.ORDER_PLACED.name)
    def __init__(
        self,
        id: str,
        customer_id: str,
        items: list[contract.OrderItem],
        total: int,
        currency: str,
        shipping_address: contract.Sealed,
        payment_method: str,
    ) -> None:
        self.customer_id = customer_id
        self.items = items
        self.total = total
        self.currency = currency
        self.shipping_address = shipping_address
        self.payment_method = payment_method
        self.status = OrderStatus.PENDING
        self.payment_intent_id: str | None = None
        self.carrier: str | None = None
        self.tracking_number: str | None = None

    @classmethod
    def place(
        cls,
        order_id: str,
        *,
        customer_id: str,
        lines: list[OrderLine],
        currency: str,
        shipping_address: contract.Sealed,
        payment_method: str,
    ) -> Order:
        """`shipping_address` is sealed with the customer's key (ledger.personal)."""
        if not lines:
            raise ValidationError("an order needs at least one item")
        if any(line.quantity <= 0 for line in lines):
            raise ValidationError("every quantity must be positive")
        return cls(
            id=order_id,
            customer_id=customer_id,
            items=[line.as_event_data() for line in lines],
            total=sum(line.subtotal for line in lines),
            currency=currency,
            shipping_address=shipping_address,
            payment_method=payment_method,
        )

    @property
    def lines(self) -> list[OrderLine]:
        return [
            OrderLine(
                product_id=item["product_id"],
                name=item["name"],
                quantity=item["quantity"],
                unit_price=item["unit_price"],
            )
            for item in self.items
        ]

    @property
    def holds_reservation(self) -> bool:
        return self.status in HOLDS_RESERVATION

    def _check(self, transition: str) -> bool:
        """Refuses a transition its status does not allow; tells whether it held stock."""
        if self.status not in ALLOWED[transition]:
            raise InvalidTransitionError(
                f"cannot {transition} an order that is {self.status.value}",
                {"status": self.status.value, "transition": transition},
            )
        return self.holds_reservation

    def _stock_moves(self, transition: str, held: bool) -> list[StockMove]:
        action = stock_action(transition, held)
        if action is None:
            return []
        return [StockMove(action, line.product_id, self.id, line.quantity) for line in self.lines]

    def _sales_lines(self) -> list[contract.SalesLine]:
        return [
            contract.SalesLine(
                product_id=i["product_id"], quantity=i["quantity"], subtotal=i["subtotal"]
            )
            for i in self.items
        ]

    # Commands: each checks, triggers its event and returns the stock moves it implies.

    def confirm(self, payment_intent_id: str, actor: str) -> list[StockMove]:
        held = self._check("confirm")
        self._confirmed(
            payment_intent_id=payment_intent_id,
            actor=actor,
            total=self.total,
            lines=self._sales_lines(),
        )
        return self._stock_moves("confirm", held)

    def process(self, actor: str) -> list[StockMove]:
        held = self._check("process")
        self._processing_started(actor=actor)
        return self._stock_moves("process", held)

    def ship(self, carrier: str, tracking_number: str, actor: str) -> list[StockMove]:
        held = self._check("ship")
        self._shipped(carrier=carrier, tracking_number=tracking_number, actor=actor)
        return self._stock_moves("ship", held)

    def deliver(self, actor: str) -> list[StockMove]:
        held = self._check("deliver")
        self._delivered(actor=actor)
        return self._stock_moves("deliver", held)

    def cancel(self, reason: str, actor: str) -> list[StockMove]:
        held = self._check("cancel")
        self._cancelled(reason=reason, actor=actor, previous_status=self.status.value)
        return self._stock_moves("cancel", held)

    def refund(self, reason: str, actor: str) -> list[StockMove]:
        held = self._check("refund")
        self._refunded(
            reason=reason,
            actor=actor,
            amount=self.total,
            previous_status=self.status.value,
            lines=self._sales_lines(),
        )
        return self._stock_moves("refund", held)

    # Events.

    @event(contract.ORDER_CONFIRMED.name)
    def _confirmed(
        self, payment_intent_id: str, actor: str, total: int, lines: list[contract.SalesLine]
    ) -> None:
        self.payment_intent_id = payment_intent_id
        self.status = OrderStatus.CONFIRMED

    @event(contract.ORDER_PROCESSING_STARTED.name)
    def _processing_started(self, actor: str) -> None:
        self.status = OrderStatus.PROCESSING

    @event(contract.ORDER_SHIPPED.name)
    def _shipped(self, carrier: str, tracking_number: str, actor: str) -> None:
        self.carrier = carrier
        self.tracking_number = tracking_number
        self.status = OrderStatus.SHIPPED

    @event(contract.ORDER_DELIVERED.name)
    def _delivered(self, actor: str) -> None:
        self.status = OrderStatus.DELIVERED

    @event(contract.ORDER_CANCELLED.name)
    def _cancelled(self, reason: str, actor: str, previous_status: str) -> None:
        self.status = OrderStatus.CANCELLED

    @event(contract.ORDER_REFUNDED.name)
    def _refunded(
        self,
        reason: str,
        actor: str,
        amount: int,
        previous_status: str,
        lines: list[contract.SalesLine],
    ) -> None:
        self.status = OrderStatus.REFUNDED


Order.OrderPlaced.class_version = contract.ORDER_PLACED.version  # type: ignore[attr-defined]
