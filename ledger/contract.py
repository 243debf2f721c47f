"""The event contract (issue #13): what the write side stores and every reader relies on, declared
once. Each event type's name, version, aggregate and payload (a TypedDict of the fields its
stored state holds, besides `timestamp`); the store's tables and notification channels; the id
prefixes and the projection serving each.

The aggregates name their events from here and annotate their event methods with these types,
the projections' handlers take `Event[<payload>]`, and tests/unit/test_event_contract.py holds
the three to each other and to the schema lock (tests/fixtures/event_schema.json): an event
whose fields change here, in its aggregate, or in the lock alone fails the suite. Changing an
event means changing its payload here and its aggregate method together, bumping its version
(`class_version`), and registering an upcaster (ledger.upcasting) for the stored events.

A TypedDict is a plain dict at runtime: the projectors read payloads with no conversion. This
module imports only the standard library, so every side may import it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NewType, TypedDict

# Store tables. The library derives the events table from the application's name
# (ledger.eventstore.APP_NAME), and its recorder notifies on a channel named after the table.
EVENTS_TABLE = "ledger_events"
SNAPSHOTS_TABLE = "ledger_snapshots"
# Every append is notified here, payload a JSON object of the aggregates it moved and their
# new versions (ledger.appends): the projectors listen, and so do the API workers.
EVENTS_CHANNEL = EVENTS_TABLE
# The projectors announce their progress here, payload '<projection>:<position>': the API
# processes listen, to answer a read-your-writes wait.
PROGRESS_CHANNEL = "ledger_projections"

# Ids are '<prefix>_<hex>' (a product's id may be chosen: it must start with 'prod_').
ID_SEPARATOR = "_"
PRODUCT_ID_PREFIX = "prod"
ORDER_ID_PREFIX = "ord"
USER_ID_PREFIX = "usr"
# The projection serving each kind of aggregate, by id prefix: a command touching one waits
# for it (an order reserving stock touches its products, so it waits for the catalog too).
SERVING_PROJECTION: Mapping[str, str] = {
    PRODUCT_ID_PREFIX: "products",
    ORDER_ID_PREFIX: "orders",
    USER_ID_PREFIX: "users",
}

# The aggregates, by the topic their events' topics start with (`ledger_events.topic` holds
# '<aggregate topic>.<event name>': moving a class breaks every store that holds its events).
PRODUCT = "ledger.domain.products:Product"
ORDER = "ledger.domain.orders:Order"
USER = "ledger.domain.users:User"
EMAIL_CLAIM = "ledger.domain.users:EmailClaim"
# An email claim's id is 'email:<keyed hash>' (ledger.domain.users.EmailClaim.id_for).
EMAIL_CLAIM_ID_PREFIX = "email:"
_AGGREGATE_BY_ID_PREFIX: Mapping[str, str] = {
    PRODUCT_ID_PREFIX: PRODUCT,
    ORDER_ID_PREFIX: ORDER,
    USER_ID_PREFIX: USER,
}


def aggregate_of(aggregate_id: str) -> str | None:
    """The topic of the aggregate an id names, by its prefix; None for an id of no known kind."""
    if aggregate_id.startswith(EMAIL_CLAIM_ID_PREFIX):
        return EMAIL_CLAIM
    prefix, separator, _ = aggregate_id.partition(ID_SEPARATOR)
    return _AGGREGATE_BY_ID_PREFIX.get(prefix) if separator else None


# A personal field as stored (issue #14): sealed with its person's data key by
# ledger.personal. Readers get the field's value, or its erased value once the person is
# erased (EventType.personal).
Sealed = NewType("Sealed", str)
# What a reader shows in place of an erased person's personal text.
ERASED = "[erased]"


# Payloads nested in order events.


class OrderItem(TypedDict):
    """One line of an order, priced at placement."""

    product_id: str
    name: str
    quantity: int
    unit_price: int
    subtotal: int


class ShippingAddress(TypedDict):
    full_name: str
    address_line1: str
    city: str
    state: str
    postal_code: str
    country: str
    address_line2: str | None


class SalesLine(TypedDict):
    """What the sales reports need of a line: what was sold, how many, for how much."""

    product_id: str
    quantity: int
    subtotal: int


# Product events. Amounts are integers of the currency's minor unit.


class ProductCreated(TypedDict):
    name: str
    description: str
    price: int
    currency: str
    category: str
    tags: list[str]
    images: list[str]
    on_hand: int


class ProductUpdated(TypedDict):
    name: str
    description: str
    category: str
    tags: list[str]
    images: list[str]


class PriceChanged(TypedDict):
    price: int
    old_price: int


class StockChange(TypedDict):
    """The fields every stock event carries: the quantity moved and the stock it left
    (`on_hand`, `reserved`), so a projection sets stock rather than adding to it."""

    quantity: int
    on_hand: int
    reserved: int


class StockReceived(TypedDict):
    quantity: int
    reason: str
    on_hand: int
    reserved: int


class StockAdjusted(TypedDict):
    quantity: int
    reason: str
    on_hand: int
    reserved: int


class StockReserved(TypedDict):
    order_id: str
    quantity: int
    on_hand: int
    reserved: int


class StockReleased(TypedDict):
    order_id: str
    quantity: int
    on_hand: int
    reserved: int


class StockShipped(TypedDict):
    order_id: str
    quantity: int
    on_hand: int
    reserved: int


class ProductDiscontinued(TypedDict):
    pass


# Order events. Every one after OrderPlaced names who made the change.


class OrderPlaced(TypedDict):
    """v2: the shipping address sealed with the customer's key (v1 held it in plain text)."""

    customer_id: str
    items: list[OrderItem]
    total: int
    currency: str
    shipping_address: Sealed  # a ShippingAddress
    payment_method: str


class StatusChange(TypedDict):
    """The field every order event after OrderPlaced carries."""

    actor: str


class OrderConfirmed(TypedDict):
    """The order's paid total and lines ride along, so sales project from this event alone."""

    payment_intent_id: str
    actor: str
    total: int
    lines: list[SalesLine]


class OrderProcessingStarted(TypedDict):
    actor: str


class OrderShipped(TypedDict):
    carrier: str
    tracking_number: str
    actor: str


class OrderDelivered(TypedDict):
    actor: str


class OrderCancelled(TypedDict):
    reason: str
    actor: str
    previous_status: str


class OrderRefunded(TypedDict):
    reason: str
    actor: str
    amount: int
    previous_status: str
    lines: list[SalesLine]


# User events.


class UserRegistered(TypedDict):
    """v2: name, email and password hash sealed with the user's key (v1 held them in plain
    text), and the id of the EmailClaim that holds the email (a keyed hash; None in v1)."""

    name: Sealed
    email: Sealed
    password_hash: Sealed
    role: str
    email_claim: str | None


class UserErased(TypedDict):
    """The user's data key is gone: who erased them (a user id)."""

    erased_by: str


class EmailClaimed(TypedDict):
    user_id: str


class EmailReleased(TypedDict):
    """The email's user was erased: it may be registered again."""


class EmailReclaimed(TypedDict):
    user_id: str


ERASED_ADDRESS: ShippingAddress = {
    "full_name": ERASED,
    "address_line1": ERASED,
    "city": ERASED,
    "state": ERASED,
    "postal_code": ERASED,
    "country": ERASED,
    "address_line2": ERASED,
}


@dataclass(frozen=True)
class EventType:
    """One event type: its name (unique across aggregates: projectors dispatch on it), its
    version (the event class's `class_version`), its aggregate's topic and its payload."""

    name: str
    version: int
    aggregate: str
    payload: type[Any]  # a TypedDict class
    # Personal fields (issue #14), sealed from version `sealed_from` on: each one's erased
    # value. Their person is the aggregate, or the payload field `subject`.
    personal: Mapping[str, Any] = field(default_factory=dict, hash=False)
    subject: str | None = None
    sealed_from: int = 0

    def sealed(self, version: int) -> bool:
        """Whether a stored event of this type at `version` holds its personal fields sealed."""
        return bool(self.personal) and version >= self.sealed_from

    @property
    def topic(self) -> str:
        """What `ledger_events.topic` holds for events of this type."""
        return f"{self.aggregate}.{self.name}"


PRODUCT_CREATED = EventType("ProductCreated", 1, PRODUCT, ProductCreated)
PRODUCT_UPDATED = EventType("ProductUpdated", 1, PRODUCT, ProductUpdated)
PRICE_CHANGED = EventType("PriceChanged", 1, PRODUCT, PriceChanged)
STOCK_RECEIVED = EventType("StockReceived", 1, PRODUCT, StockReceived)
STOCK_ADJUSTED = EventType("StockAdjusted", 1, PRODUCT, StockAdjusted)
STOCK_RESERVED = EventType("StockReserved", 1, PRODUCT, StockReserved)
STOCK_RELEASED = EventType("StockReleased", 1, PRODUCT, StockReleased)
STOCK_SHIPPED = EventType("StockShipped", 1, PRODUCT, StockShipped)
PRODUCT_DISCONTINUED = EventType("ProductDiscontinued", 1, PRODUCT, ProductDiscontinued)
ORDER_PLACED = EventType(
    "OrderPlaced",
    2,
    ORDER,
    OrderPlaced,
    personal={"shipping_address": ERASED_ADDRESS},
    subject="customer_id",
    sealed_from=2,
)
ORDER_CONFIRMED = EventType("OrderConfirmed", 1, ORDER, OrderConfirmed)
ORDER_PROCESSING_STARTED = EventType("OrderProcessingStarted", 1, ORDER, OrderProcessingStarted)
ORDER_SHIPPED = EventType("OrderShipped", 1, ORDER, OrderShipped)
ORDER_DELIVERED = EventType("OrderDelivered", 1, ORDER, OrderDelivered)
ORDER_CANCELLED = EventType("OrderCancelled", 1, ORDER, OrderCancelled)
ORDER_REFUNDED = EventType("OrderRefunded", 1, ORDER, OrderRefunded)
USER_REGISTERED = EventType(
    "UserRegistered",
    2,
    USER,
    UserRegistered,
    personal={"name": ERASED, "email": ERASED, "password_hash": ERASED},
    sealed_from=2,
)
USER_ERASED = EventType("UserErased", 1, USER, UserErased)
EMAIL_CLAIMED = EventType("EmailClaimed", 1, EMAIL_CLAIM, EmailClaimed)
EMAIL_RELEASED = EventType("EmailReleased", 1, EMAIL_CLAIM, EmailReleased)
EMAIL_RECLAIMED = EventType("EmailReclaimed", 1, EMAIL_CLAIM, EmailReclaimed)

# Every event type the store holds.
EVENT_TYPES: tuple[EventType, ...] = (
    PRODUCT_CREATED,
    PRODUCT_UPDATED,
    PRICE_CHANGED,
    STOCK_RECEIVED,
    STOCK_ADJUSTED,
    STOCK_RESERVED,
    STOCK_RELEASED,
    STOCK_SHIPPED,
    PRODUCT_DISCONTINUED,
    ORDER_PLACED,
    ORDER_CONFIRMED,
    ORDER_PROCESSING_STARTED,
    ORDER_SHIPPED,
    ORDER_DELIVERED,
    ORDER_CANCELLED,
    ORDER_REFUNDED,
    USER_REGISTERED,
    USER_ERASED,
    EMAIL_CLAIMED,
    EMAIL_RELEASED,
    EMAIL_RECLAIMED,
)
EVENTS: Mapping[str, EventType] = {event_type.name: event_type for event_type in EVENT_TYPES}
# The event types with personal fields, by name.
PERSONAL: Mapping[str, EventType] = {t.name: t for t in EVENT_TYPES if t.personal}
