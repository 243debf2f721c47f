"""The write side: one method per command. Each loads its aggregates, lets them decide, and
saves every aggregate it touched in one transaction (the library's `save(*aggregates)`).

Optimistic-concurrency conflicts are retried a bounded number of times. Within one process,
commands that touch the same aggregates are also serialised by striped locks, so a hot product
does not burn retries against its own process."""

from __future__ import annotations

import copy
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, ClassVar, TypeVar

import psycopg
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import (
    IntegrityError,
    OperationalError,
    PersistenceError,
    Recording,
)

from ledger.command_log import lookup
from ledger.commands import (
    AdjustStock,
    ChangeOrderStatus,
    CommandResult,
    CreateProduct,
    DiscontinueProduct,
    PlaceOrder,
    RegisterUser,
    UpdateProduct,
)
from ledger.domain import (
    DuplicateEmailError,
    EmailClaim,
    NotFoundError,
    Order,
    OrderLine,
    PriceChangedError,
    Product,
    User,
    ValidationError,
)
from ledger.domain.base import LedgerAggregate
from ledger.domain.errors import ConcurrencyError, ConflictError, DomainError, UnavailableError
from ledger.domain.users import normalise_email
from ledger.eventstore import APP_NAME, CONNECT_TIMEOUT_SECONDS, GroupCommit, library_env
from ledger.logs import get_logger
from ledger.metrics import COMMAND_SECONDS, COMMANDS, EVENTS_APPENDED
from ledger.settings import Settings

T = TypeVar("T")
A = TypeVar("A", bound=LedgerAggregate)

MAX_ATTEMPTS = 30
PRODUCT_ID_PATTERN = "prod_"
_LOCK_STRIPES = 1024
log = get_logger("ledger.commands")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class Ledger(Application[str]):
    """The shop's event-sourced application."""

    name = APP_NAME
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Product: 100, Order: 100}

    def __init__(self, settings: Settings, database_url: str, pool_size: int = 8) -> None:
        env = library_env(database_url, settings, pool_size)
        env["AGGREGATE_CACHE_MAXSIZE"] = "5000"
        super().__init__(env)
        self._stamps = threading.local()  # when this thread's last `_record` committed
        self._commits = GroupCommit(self.save, committed_at=self._recorded_at)
        self._reads = threading.local()  # ids of the aggregates the running command read
        self.currency = settings.ledger_currency
        self._stripes = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    # Users.

    def register_user(self, cmd: RegisterUser) -> CommandResult:
        """Creates a user and claims their email in the same transaction."""

        def decide() -> tuple[str, list[LedgerAggregate]]:
            email = normalise_email(cmd.email)
            user = User(
                id=new_id("usr"),
                name=cmd.name,
                email=email,
                password_hash=cmd.password_hash,
                role=cmd.role,
            )
            claim = EmailClaim(id=EmailClaim.id_for(email), user_id=user.id)
            return user.id, [user, claim]

        try:
            return self._run("register_user", decide, retry=False, command_id=cmd.command_id)
        except ConcurrencyError:
            raise DuplicateEmailError(
                "this email is already registered", {"field": "email"}
            ) from None

    # Products.

    def create_product(self, cmd: CreateProduct) -> CommandResult:
        product_id = cmd.product_id or new_id("prod")
        if not product_id.startswith(PRODUCT_ID_PATTERN) or len(product_id) > 64:
            raise ValidationError("a product id starts with prod_ and has at most 64 characters")

        def decide() -> tuple[str, list[LedgerAggregate]]:
            product = Product.create(
                product_id,
                name=cmd.name,
                description=cmd.description,
                price=cmd.price,
                currency=self.currency,
                category=cmd.category,
                tags=list(cmd.tags),
                images=list(cmd.images),
                on_hand=cmd.stock,
            )
            return product.id, [product]

        try:
            return self._run("create_product", decide, retry=False, command_id=cmd.command_id)
        except ConcurrencyError:
            raise ConflictError(f"product {product_id} already exists") from None

    def update_product(self, cmd: UpdateProduct) -> CommandResult:
        def decide() -> tuple[str, list[LedgerAggregate]]:
            product = self._get(Product, cmd.product_id)
            changes = {
                "name": cmd.name,
                "description": cmd.description,
                "category": cmd.category,
                "tags": list(cmd.tags) if cmd.tags is not None else None,
                "images": list(cmd.images) if cmd.images is not None else None,
            }
            product.update_details(**changes)
            if cmd.price is not None:
                product.change_price(cmd.price)
            return product.id, [product]

        return self._run(
            "update_product", decide, locks=[cmd.product_id], command_id=cmd.command_id
        )

    def adjust_stock(self, cmd: AdjustStock) -> CommandResult:
        def decide() -> tuple[str, list[LedgerAggregate]]:
            product = self._get(Product, cmd.product_id)
            product.adjust_stock(cmd.delta, cmd.reason)
            return product.id, [product]

        return self._run("adjust_stock", decide, locks=[cmd.product_id], command_id=cmd.command_id)

    def discontinue_product(self, cmd: DiscontinueProduct) -> CommandResult:
        def decide() -> tuple[str, list[LedgerAggregate]]:
            product = self._get(Product, cmd.product_id)
            product.discontinue()
            return product.id, [product]

        return self._run(
            "discontinue_product", decide, locks=[cmd.product_id], command_id=cmd.command_id
        )

    # Orders.

    def place_order(self, cmd: PlaceOrder) -> CommandResult:
        """Prices every line from the catalog, reserves stock on each product and creates the
        order, all in one transaction."""
        product_ids = [item.product_id for item in cmd.items]
        if len(set(product_ids)) != len(product_ids):
            raise ValidationError("each product may appear only once in an order")
        order_id = cmd.order_id or new_id("ord")

        def decide() -> tuple[str, list[LedgerAggregate]]:
            products: list[Product] = []
            lines: list[OrderLine] = []
            for item in cmd.items:
                product = self._get(Product, item.product_id)
                if item.expected_price is not None and item.expected_price != product.price:
                    raise PriceChangedError(
                        f"the price of {product.id} has changed",
                        {
                            "product_id": product.id,
                            "expected": item.expected_price,
                            "current": product.price,
                        },
                    )
                product.reserve(order_id, item.quantity)
                products.append(product)
                lines.append(OrderLine(product.id, product.name, item.quantity, product.price))
            order = Order.place(
                order_id,
                customer_id=cmd.customer_id,
                lines=lines,
                currency=self.currency,
                shipping_address=cmd.shipping_address,
                payment_method=cmd.payment_method,
            )
            return order.id, [order, *products]

        return self._run("place_order", decide, locks=product_ids, command_id=cmd.command_id)

    def change_order_status(self, cmd: ChangeOrderStatus) -> CommandResult:
        """confirm, process, ship, deliver, cancel or refund; moves the stock it implies."""

        def decide() -> tuple[str, list[LedgerAggregate]]:
            order = self._get(Order, cmd.order_id)
            if cmd.owner_id is not None and order.customer_id != cmd.owner_id:
                raise NotFoundError(f"order {cmd.order_id} not found")
            held = order.holds_reservation
            self._apply_transition(order, cmd)
            touched: list[LedgerAggregate] = [order]
            stock_move = _stock_move(cmd.transition, held)
            if stock_move:
                for line in order.lines:
                    product = self._get(Product, line.product_id)
                    getattr(product, stock_move)(order.id, line.quantity)
                    touched.append(product)
            return order.id, touched

        return self._run(
            f"{cmd.transition}_order",
            decide,
            locks=[cmd.order_id, *self._order_products(cmd)],
            command_id=cmd.command_id,
        )

    def last_committed_at(self) -> float:
        """When the calling thread's last successful command committed, in `time.monotonic()`
        seconds (its events visible to readers): what live-lag measurements start from."""
        return self._commits.last_committed_at()

    # Internals.

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[str]]:
        """The library's `save`, collecting events without its `isinstance` checks against
        runtime Protocols (two per object: an eighth of the writers' CPU under load), and
        taking snapshots from the saved aggregates in memory (`_take_snapshots`)."""
        processing_event: ProcessingEvent[str] = ProcessingEvent()
        for obj in objs:
            if obj is None:
                continue
            if isinstance(obj, BaseAggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.events.append(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def _record(self, processing_event: ProcessingEvent[str]) -> list[Recording[str]]:
        recordings = super()._record(processing_event)
        self._stamps.at = time.monotonic()
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent[str]) -> None:
        """Snapshots each aggregate whose new version reached its interval. The library loads
        that version back from the store (a snapshot and up to 99 events, decoded and
        replayed: a tenth of the writers' CPU); the aggregate just saved is that version
        already, in memory. Only a version passed within the same save (two events of one
        aggregate straddling the interval) still goes the library's way."""
        if self.snapshots is None:
            return
        snapshots = []
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate))
            if aggregate is None or not interval or event.originator_version % interval:
                continue
            if (
                isinstance(aggregate, LedgerAggregate)
                and aggregate.version == event.originator_version
            ):
                snapshots.append(type(aggregate).Snapshot.take(aggregate))
            else:
                self.take_snapshot(event.originator_id, event.originator_version, _mutate)
        if snapshots:
            self.snapshots.put(snapshots)

    def _recorded_at(self) -> float:
        return float(getattr(self._stamps, "at", 0.0)) or time.monotonic()

    def _apply_transition(self, order: Order, cmd: ChangeOrderStatus) -> None:
        t = cmd.transition
        if t == "confirm":
            order.confirm(_required(cmd.payment_intent_id, "payment_intent_id"), cmd.actor)
        elif t == "process":
            order.process(cmd.actor)
        elif t == "ship":
            carrier = _required(cmd.carrier, "carrier")
            order.ship(carrier, _required(cmd.tracking_number, "tracking_number"), cmd.actor)
        elif t == "deliver":
            order.deliver(cmd.actor)
        elif t == "cancel":
            order.cancel(cmd.reason or "", cmd.actor)
        elif t == "refund":
            order.refund(cmd.reason or "", cmd.actor)
        else:
            raise ValidationError(f"unknown transition {t!r}")

    def _order_products(self, cmd: ChangeOrderStatus) -> list[str]:
        if _stock_move(cmd.transition, held=True) is None:
            return []
        try:
            return [line.product_id for line in self._get(Order, cmd.order_id).lines]
        except DomainError:
            return []

    def _get(self, kind: type[A], aggregate_id: str) -> A:
        read: list[str] | None = getattr(self._reads, "ids", None)
        if read is not None:
            read.append(aggregate_id)
        try:
            aggregate: object = (
                None
                if aggregate_id in getattr(self._reads, "stale", ())
                else self._cached(aggregate_id)
            ) or self.repository.get(aggregate_id, projector_func=_mutate)
        except AggregateNotFoundError:
            raise NotFoundError(f"{_noun(kind)} {aggregate_id} not found") from None
        if not isinstance(aggregate, kind):
            raise NotFoundError(f"{_noun(kind)} {aggregate_id} not found")
        return aggregate

    def _run(
        self,
        command: str,
        decide: Callable[[], tuple[str, Sequence[LedgerAggregate]]],
        *,
        locks: Sequence[str] = (),
        retry: bool = True,
        command_id: str | None = None,
    ) -> CommandResult:
        """Decides and saves, retrying optimistic-concurrency conflicts; records the outcome."""
        started = time.perf_counter()
        outcome = "error"
        try:
            with self._locked(locks):
                try:
                    result = self._save_with_retries(decide, retry, command_id or uuid.uuid4().hex)
                finally:
                    self._reads.stale = ()  # ids to fast-forward, for this command only
            outcome = "ok"
            log.info(
                "command",
                command=command,
                aggregate_id=result.aggregate_id,
                aggregates=list(result.touched),
                position=result.position,
            )
            return result
        except DomainError as exc:
            outcome = "rejected" if not isinstance(exc, ConcurrencyError) else "conflict"
            raise
        finally:
            COMMANDS.labels(command, outcome).inc()
            COMMAND_SECONDS.labels(command).observe(time.perf_counter() - started)

    def _save_with_retries(
        self,
        decide: Callable[[], tuple[str, Sequence[LedgerAggregate]]],
        retry: bool,
        command_id: str,
    ) -> CommandResult:
        """Decides and saves under `command_id`. A failed save may have committed (the
        connection lost after COMMIT, and the retried insert then hitting its own rows): the
        command id settles it, and a committed command answers its first result instead of
        being decided again on state that already holds its effect."""
        attempts = MAX_ATTEMPTS if retry else 1
        for attempt in range(1, attempts + 1):
            aggregates: Sequence[LedgerAggregate] = ()
            try:
                aggregate_id, aggregates = self._decide_fresh(decide)
                recordings = self._commits.save(aggregates, command_id, aggregate_id)
            except IntegrityError:
                committed = self._committed(command_id)
                if committed is not None:
                    return committed
                # Another process wrote one of them: the next attempt fast-forwards them.
                self._reads.stale = {a.id for a in aggregates}
                if attempt == attempts:
                    break
                # Jittered backoff lets the competing writer finish before we reload.
                time.sleep(random.uniform(0, min(0.002 * attempt, 0.05)))  # noqa: S311  # nosec B311
                continue
            except (OperationalError, PersistenceError) as exc:
                if isinstance(exc, IntegrityError):  # pragma: no cover - caught above
                    raise
                committed = self._committed(command_id)
                if committed is not None:
                    return committed
                raise UnavailableError("the event store is unavailable, try again") from exc
            self._remember(aggregates)
            EVENTS_APPENDED.inc(len(recordings))
            touched = tuple(dict.fromkeys(a.id for a in aggregates))
            return CommandResult(aggregate_id, self._position(recordings), touched)
        raise ConcurrencyError(
            "too many concurrent changes to the same records; try again",
            {"attempts": attempts},
        )

    def _committed(self, command_id: str) -> CommandResult | None:
        """The first result of `command_id` if it committed, looked up on a fresh connection;
        if even that fails the outcome is unknown, and the client is told to try again."""
        # A connection of its own, not the pool's: while the server is down a pooled one is
        # waited for far longer than a command may take to fail.
        pool = self.recorder.datastore.pool  # type: ignore[attr-defined]
        try:
            with psycopg.connect(
                pool.conninfo, **{**pool.kwargs, "connect_timeout": CONNECT_TIMEOUT_SECONDS}
            ) as conn:
                return lookup(conn, command_id)
        except (psycopg.OperationalError, OperationalError, PersistenceError, OSError) as exc:
            raise UnavailableError("the event store is unavailable, try again") from exc

    def _position(self, recordings: Sequence[Recording[str]]) -> int:
        """The position of the command's last event. A command that changed nothing reports
        the store's current position instead: the state it confirmed is at or before it, so
        a reader waiting for that position sees what the answer describes."""
        if recordings:
            return max(r.notification.id for r in recordings)
        return self.recorder.max_notification_id() or 0

    def _cached(self, aggregate_id: str) -> object | None:
        """A copy of the cached aggregate as it is, without the repository's fast-forward
        query for newer events. Commands save every aggregate they read, so if another process
        changed it the save conflicts and the retry fast-forwards it with the newer events
        (_save_with_retries); a rejection is re-decided on fresh state (_decide_fresh).
        Reads outside commands keep using `repository.get`, which fast-forwards."""
        cache = self.repository.cache
        if cache is None:
            return None
        try:
            cached = cache.get(aggregate_id)
        except KeyError:
            return None
        # A copy, as the repository makes: a command that fails must not corrupt the cache.
        return copy.deepcopy(cached)

    def _decide_fresh(
        self, decide: Callable[[], tuple[str, Sequence[LedgerAggregate]]]
    ) -> tuple[str, Sequence[LedgerAggregate]]:
        """Runs `decide`, and decides once more on aggregates loaded from the store when it
        decided on cached ones (the cache is not fast-forwarded: another process may have
        changed them) and either rejected the command or changed nothing. A stale change is
        caught by the save conflicting; a stale rejection or a stale "nothing to do" writes
        nothing that could conflict, so it must confirm its state is current first."""
        read: list[str] = []
        self._reads.ids = read
        try:
            try:
                decided = decide()
            except DomainError:
                if not self._from_cache(read):
                    raise
                return self._decide_current(decide, read)
            if self._from_cache(read) and not any(a.pending_events for a in decided[1]):
                return self._decide_current(decide, read)
            return decided
        finally:
            self._reads.ids = None

    def _from_cache(self, read: Sequence[str]) -> bool:
        return not set(read) <= set(getattr(self._reads, "stale", ()))

    def _decide_current(
        self, decide: Callable[[], tuple[str, Sequence[LedgerAggregate]]], read: Sequence[str]
    ) -> tuple[str, Sequence[LedgerAggregate]]:
        self._reads.stale = {*getattr(self._reads, "stale", ()), *read}
        self._reads.ids = []
        return decide()

    def _remember(self, aggregates: Sequence[LedgerAggregate]) -> None:
        """Caches the aggregates as just saved (the library caches on save only when it does
        not fast-forward), so the next command on them needs no query."""
        cache = self.repository.cache
        if cache is not None:
            for aggregate in aggregates:
                cache.put(aggregate.id, aggregate)

    @contextmanager
    def _locked(self, aggregate_ids: Sequence[str]) -> Iterator[None]:
        stripes = sorted({hash(i) % _LOCK_STRIPES for i in aggregate_ids})
        with ExitStack() as stack:
            for stripe in stripes:
                stack.enter_context(self._stripes[stripe])
            yield


def _mutate(aggregate: Any, events: Iterable[Any]) -> Any:
    """The library's `project_aggregate` without its per-event `isinstance` check against a
    runtime Protocol, which took a fifth of an API worker's CPU under order load (Python 3.11
    walks the protocol's attributes on every call)."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def _stock_move(transition: str, held: bool) -> str | None:
    """The Product method a transition calls on each line's product, if any."""
    if transition == "ship":
        return "ship"
    if transition == "cancel" or (transition == "refund" and held):
        return "release"
    return None


def _required(value: str | None, name: str) -> str:
    if not value:
        raise ValidationError(f"{name} is required")
    return value


def _noun(kind: type[Any]) -> str:
    return kind.__name__.lower()
