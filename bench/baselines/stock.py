"""The baseline for rebuilds: the products read model written the library's stock way.

A `PostgresTrackingRecorder` subclass owns the view table and writes each row together with
its tracking record in one transaction; a `Projection` dispatches on the domain event classes;
the library's `ProjectionRunner` subscribes to the ledger's events (decoded into domain
events by the application's mapper) and calls it once per event. This is the pattern of the
library's projection documentation, applied to the same events the ledger's rebuild reads."""

from __future__ import annotations

import time
from functools import singledispatchmethod
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from eventsourcing.utils import get_topic
from psycopg.sql import SQL

from bench.baselines.plain import plain_env
from ledger.domain import Product

VIEW_NAME = "stockproducts"
# The domain's event classes, made by the library's @event decorator at import time.
CREATED: type[Any] = vars(Product)["ProductCreated"]
STOCK_EVENTS: tuple[type[Any], ...] = tuple(
    getattr(Product, name)
    for name in ("StockReceived", "StockAdjusted", "StockReserved", "StockReleased", "StockShipped")
)


class LedgerSource(Application[str]):
    """Reads the ledger's events table (`ledger_events`) with the library's defaults."""

    name = "Ledger"


class StockProductsView(PostgresTrackingRecorder):
    """The products table (the columns the catalog shows) plus the library's tracking."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS stock_products (id text PRIMARY KEY, name text, "
                "price bigint, on_hand bigint, reserved bigint, status text, "
                "updated_at timestamptz)"
            ).format()
        )

    def created(self, event: Any, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "INSERT INTO stock_products VALUES (%s, %s, %s, %s, 0, 'active', %s) "
                "ON CONFLICT (id) DO NOTHING",
                (event.originator_id, event.name, event.price, event.on_hand, event.timestamp),
            )
            self._insert_tracking(curs, tracking)

    def stock(self, event: Any, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "UPDATE stock_products SET on_hand = %s, reserved = %s, updated_at = %s "
                "WHERE id = %s",
                (event.on_hand, event.reserved, event.timestamp, event.originator_id),
            )
            self._insert_tracking(curs, tracking)


class StockProductsProjection(Projection[StockProductsView]):
    name = VIEW_NAME
    topics = tuple(get_topic(cls) for cls in (CREATED, *STOCK_EVENTS))

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    def _created(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.created(domain_event, tracking)

    def _stock(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.stock(domain_event, tracking)


# Registered here rather than by annotation: the event classes are made at runtime.
_dispatch = vars(StockProductsProjection)["process_event"]
_dispatch.register(CREATED, StockProductsProjection._created)
for _event in STOCK_EVENTS:
    _dispatch.register(_event, StockProductsProjection._stock)


def run_for(url: str, seconds: float) -> tuple[int, float]:
    """Runs the stock runner from the start of the store for `seconds`; returns the store
    position it reached and the seconds it ran."""
    env = plain_env(url)
    env["CREATE_TABLE"] = "n"  # the ledger's migrations own ledger_events
    env[f"{VIEW_NAME.upper()}_CREATE_TABLE"] = "y"
    started = time.perf_counter()
    with ProjectionRunner(
        application_class=LedgerSource,
        projection_class=StockProductsProjection,
        view_class=StockProductsView,
        env=env,
    ) as runner:
        runner.run_forever(timeout=seconds)
        position = runner.view.max_tracking_id(LedgerSource.name) or 0
        elapsed = time.perf_counter() - started
    return position, elapsed
