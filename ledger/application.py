"""The write side's entry point: one method per command, each naming its use case
(ledger.use_cases), the locks it takes and its command id, and handing them to the command
runner (ledger.runner), which runs it over the tuned library application (ledger.library).

Optimistic-concurrency conflicts are retried a bounded number of times. Within one process,
commands that touch the same aggregates are also serialised by striped locks, so a hot product
does not burn retries against its own process."""

from __future__ import annotations

from contextlib import AbstractContextManager, suppress
from typing import Any, ClassVar

import psycopg
from eventsourcing.application import AggregateNotFoundError

from ledger import claims, erasure, personal, use_cases
from ledger.commands import (
    AdjustStock,
    ChangeOrderStatus,
    CommandResult,
    CreateProduct,
    DiscontinueProduct,
    EraseUser,
    PlaceOrder,
    RegisterUser,
    UpdateProduct,
)
from ledger.contract import ORDER_ID_PREFIX, USER_ID_PREFIX, Sealed
from ledger.domain import DuplicateEmailError, Order, Product, User
from ledger.domain.errors import ConcurrencyError, ConflictError, NotFoundError
from ledger.domain.users import normalise_email
from ledger.eventstore import APP_NAME, library_env
from ledger.group_commit import GroupCommit
from ledger.library import TunedApplication
from ledger.runner import MAX_ATTEMPTS, CommandRunner
from ledger.settings import Settings
from ledger.use_cases import PRODUCT_ID_PATTERN, new_id

__all__ = ["MAX_ATTEMPTS", "PRODUCT_ID_PATTERN", "Ledger", "new_id"]


class Ledger(TunedApplication):
    """The shop's event-sourced application."""

    name = APP_NAME
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Product: 100, Order: 100}

    def __init__(self, settings: Settings, database_url: str, pool_size: int = 8) -> None:
        env = library_env(database_url, settings, pool_size)
        env["AGGREGATE_CACHE_MAXSIZE"] = "5000"
        super().__init__(env)
        self.currency = settings.ledger_currency
        self._runner = CommandRunner(self)
        self.keys = personal.configure(settings.secret_key)
        self._email_index: bytes | None = None

    # Users.

    def register_user(self, cmd: RegisterUser) -> CommandResult:
        """Creates a user, their personal fields sealed with a new data key, and claims their
        email in the same transaction."""
        user_id = new_id(USER_ID_PREFIX)
        with self._connection() as conn:
            key = self.keys.key_for(conn, user_id)
        fields = {"name": cmd.name, "email": normalise_email(cmd.email)}
        fields["password_hash"] = cmd.password_hash
        sealed = {name: Sealed(personal.seal(key, user_id, name, v)) for name, v in fields.items()}
        claim_id = self.email_claim_id(cmd.email)
        try:
            return self._runner.run(
                "register_user",
                lambda uow: use_cases.register_user(uow, cmd, user_id, sealed, claim_id),
                retry=False,
                command_id=cmd.command_id,
            )
        except ConcurrencyError:
            raise DuplicateEmailError(
                "this email is already registered", {"field": "email"}
            ) from None

    def email_claim_id(self, email: str) -> str:
        """The id of the EmailClaim of `email`: a keyed hash of it, never the email."""
        if self._email_index is None:
            with self._connection() as conn:
                self._email_index = self.keys.key_for(conn, personal.EMAIL_INDEX)
        return claims.claim_id(self._email_index, email)

    def erase_user(self, cmd: EraseUser) -> CommandResult:
        """Erases a person (ledger.erasure): their key first, so their sealed data is unreadable
        from the first step; then the UserErased event and the release of their email; then
        every other copy. Erasing an erased user again finishes what an interrupted erasure
        left undone, then answers not found."""
        user: object = None
        with suppress(AggregateNotFoundError):
            user = self.repository.get(cmd.user_id)
        if not isinstance(user, User):
            raise NotFoundError(f"user {cmd.user_id} not found")
        claim_id = user.email_claim or self.email_claim_id(user.email)  # v1: plain email
        with self._connection() as conn:
            self.keys.erase(conn, cmd.user_id)
        try:
            result = self._runner.run(
                "erase_user",
                lambda uow: use_cases.erase_user(uow, cmd, claim_id),
                locks=[cmd.user_id, claim_id],
                command_id=cmd.command_id,
            )
        finally:
            with self._connection() as conn, conn.transaction():
                erasure.forget(conn, cmd.user_id)
        return result

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """A connection of the store's pool (autocommit)."""
        return self.recorder.datastore.get_connection()  # type: ignore[attr-defined, no-any-return]

    # Products.

    def create_product(self, cmd: CreateProduct) -> CommandResult:
        product_id = use_cases.product_id_for(cmd)
        try:
            return self._runner.run(
                "create_product",
                lambda uow: use_cases.create_product(uow, cmd, product_id, self.currency),
                retry=False,
                command_id=cmd.command_id,
            )
        except ConcurrencyError:
            raise ConflictError(f"product {product_id} already exists") from None

    def update_product(self, cmd: UpdateProduct) -> CommandResult:
        return self._runner.run(
            "update_product",
            lambda uow: use_cases.update_product(uow, cmd),
            locks=[cmd.product_id],
            command_id=cmd.command_id,
        )

    def adjust_stock(self, cmd: AdjustStock) -> CommandResult:
        return self._runner.run(
            "adjust_stock",
            lambda uow: use_cases.adjust_stock(uow, cmd),
            locks=[cmd.product_id],
            command_id=cmd.command_id,
        )

    def discontinue_product(self, cmd: DiscontinueProduct) -> CommandResult:
        return self._runner.run(
            "discontinue_product",
            lambda uow: use_cases.discontinue_product(uow, cmd),
            locks=[cmd.product_id],
            command_id=cmd.command_id,
        )

    # Orders.

    def place_order(self, cmd: PlaceOrder) -> CommandResult:
        """Prices every line from the catalog, reserves stock on each product and creates the
        order, all in one transaction."""
        locks = use_cases.order_locks(cmd)
        order_id = cmd.order_id or new_id(ORDER_ID_PREFIX)
        with self._connection() as conn:
            key = self.keys.key_for(conn, cmd.customer_id)
        field = "shipping_address"
        address = Sealed(
            personal.seal(key, cmd.customer_id, field, cmd.shipping_address.as_event_data())
        )
        return self._runner.run(
            "place_order",
            lambda uow: use_cases.place_order(uow, cmd, order_id, self.currency, address),
            locks=locks,
            command_id=cmd.command_id,
        )

    def change_order_status(self, cmd: ChangeOrderStatus) -> CommandResult:
        """confirm, process, ship, deliver, cancel or refund; moves the stock it implies."""
        uow = self._runner.unit_of_work()
        return self._runner.run(
            f"{cmd.transition}_order",
            lambda uow: use_cases.change_order_status(uow, cmd),
            locks=use_cases.transition_locks(uow, cmd),
            command_id=cmd.command_id,
            first=uow,
        )

    def last_committed_at(self) -> float:
        """When the calling thread's last successful command committed, in `time.monotonic()`
        seconds (its events visible to readers): what live-lag measurements start from."""
        return self._runner.last_committed_at()

    @property
    def _commits(self) -> GroupCommit:
        """The runner's group commit (tests hold its first transaction open)."""
        return self._runner.commits

    @_commits.setter
    def _commits(self, commits: GroupCommit) -> None:
        self._runner.commits = commits
