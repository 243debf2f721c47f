"""Grows a store to a given number of events through the ledger's own write path.

Commands one at a time would take hours for a million events, so the filler drives the domain
aggregates in memory (the checkout `Ledger.place_order` decides with, ledger.domain.checkout)
and saves a few hundred orders per `Ledger.save`: the events, their encoding, the table and the
snapshots are exactly what the application writes. Orders have 2 items over the demo catalog; a
share of them includes the hot product so that it reaches the requested number of reservations."""

from __future__ import annotations

import random
import time

from bench import workload
from ledger import contract, personal
from ledger.application import Ledger, new_id
from ledger.commands import OrderItemRequest
from ledger.demo import DEMO_SIZE
from ledger.domain import EmailClaim, Product, Role, User, checkout

# Orders per `Ledger.save`: about 330 events. Saves of some 1,300 events hung inside psycopg's
# pipeline over a Unix socket (see ledger.group_commit.MAX_GROUP_EVENTS).
ORDERS_PER_SAVE = 100
EVENTS_PER_ORDER = 3  # OrderPlaced + two StockReserved
CONFIRM_EVERY = 5  # every fifth order is confirmed: one more event
USER_EVERY = 25  # a new customer (UserRegistered + EmailClaimed) every 25 orders
# A well-formed argon2 hash; the filler never logs anyone in.
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$YmVuY2hzYWx0$YmVuY2hoYXNoYmVuY2hoYXNoYmVuY2g"


def _events_per_order() -> float:
    return EVENTS_PER_ORDER + 1 / CONFIRM_EVERY + 2 / USER_EVERY


def fill(
    ledger: Ledger, events: int, *, hot_reservations: int = 0, seed: int = 7
) -> tuple[int, float]:
    """Appends about `events` events (never more than a batch over); returns how many and how
    many seconds it took."""
    started = time.perf_counter()
    orders_total = max(1, int(events / _events_per_order()))
    hot_share = min(1.0, hot_reservations / orders_total) if hot_reservations else 0.0
    rng = random.Random(seed)
    products: dict[str, Product] = {}
    for n in range(1, DEMO_SIZE + 1):
        product: object = ledger.repository.get(f"prod_{n}")
        assert isinstance(product, Product)
        products[product.id] = product
    customer = _new_user(ledger)
    appended = 0
    placed = 0
    while appended < events:
        batch: list[object] = []
        touched: set[str] = set()
        for _ in range(ORDERS_PER_SAVE):
            if placed % USER_EVERY == 0:
                customer = _new_user(ledger)
                batch.extend(customer[:2])
            hot = rng.random() < hot_share
            order_id = new_id(contract.ORDER_ID_PREFIX)
            items = [OrderItemRequest(p, 1) for p in workload.order_products(rng, hot)]
            order, reserved = checkout(
                order_id,
                customer_id=customer[0].id,
                items=items,
                load=products.__getitem__,
                currency=ledger.currency,
                shipping_address=_sealed_address(customer),
                payment_method="card",
            )
            touched.update(p.id for p in reserved)
            if placed % CONFIRM_EVERY == 0:
                order.confirm(f"pi_{placed}", "bench")
            batch.append(order)
            placed += 1
        recordings = ledger.save(*batch, *(products[p] for p in touched))
        appended += len(recordings)
    return appended, time.perf_counter() - started


Customer = tuple[User, EmailClaim, bytes]  # the user, their claim, their data key


def _new_user(ledger: Ledger) -> Customer:
    """A customer whose personal fields are sealed with a data key of their own, as
    `Ledger.register_user` seals them (ledger.personal)."""
    user_id = new_id(contract.USER_ID_PREFIX)
    email = f"{user_id}@bench.example"
    with ledger.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        key = ledger.keys.key_for(conn, user_id)
    fields = {"name": "Bench Customer", "email": email, "password_hash": PASSWORD_HASH}
    sealed = {k: contract.Sealed(personal.seal(key, user_id, k, v)) for k, v in fields.items()}
    claim_id = ledger.email_claim_id(email)
    user = User(
        id=user_id,
        name=sealed["name"],
        email=sealed["email"],
        password_hash=sealed["password_hash"],
        role=Role.CUSTOMER,
        email_claim=claim_id,
    )
    return user, EmailClaim(id=claim_id, user_id=user_id), key


def _sealed_address(customer: Customer) -> contract.Sealed:
    user, _, key = customer
    address = workload.ADDRESS.as_event_data()
    return contract.Sealed(personal.seal(key, user.id, "shipping_address", address))
