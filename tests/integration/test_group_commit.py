"""Group commit: concurrent commands share one transaction, and a conflict in a shared
transaction falls back to saving each command alone, so only the conflicting one fails."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Recording

from ledger.application import Ledger
from ledger.command_log import CommandRecord, lookup
from ledger.commands import AdjustStock, CreateProduct
from ledger.domain import Product
from ledger.eventstore import StaleAggregateError
from ledger.group_commit import GroupCommit


def _product(ledger: Ledger, product_id: str) -> Product:
    ledger.create_product(
        CreateProduct(
            name=product_id, description="", price=100, category="c", stock=5,
            product_id=product_id,
        )
    )  # fmt: skip
    product = ledger.repository.get(product_id)
    assert isinstance(product, Product)
    return product


def _wait_for(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class _HeldLeader:
    """A GroupCommit over `ledger.save` whose first transaction stays open until the commands
    started after it have queued; `calls` records how many products each transaction saved."""

    def __init__(self, ledger: Ledger, **options: Any) -> None:
        self.ledger = ledger
        self.calls: list[int] = []
        self._release = threading.Event()
        self.commits = GroupCommit(self._save, **options)

    def _save(self, *objs: Any, **kwargs: Any) -> list[Recording[str]]:
        self.calls.append(sum(1 for o in objs if isinstance(o, Product)))
        if len(self.calls) == 1:
            self._release.wait(10)  # hold the first transaction open while others queue
        return self.ledger.save(*objs, **kwargs)

    def adjusting(self, outcomes: dict[str, object]) -> Any:
        """A command adjusting one product's stock through the group commit, recording in
        `outcomes` under its name what its save returned or raised."""

        def command(name: str, product: Product) -> None:
            product.adjust_stock(1, "test")
            try:
                outcomes[name] = self.commits.save([product])
            except IntegrityError as exc:
                outcomes[name] = exc

        return command

    def run(self, command: Any, first: tuple[Any, ...], queued: list[tuple[Any, ...]]) -> None:
        """`command(*first)` leads; each `command(*args)` of `queued` waits behind it."""
        leader = threading.Thread(target=command, args=first)
        leader.start()
        _wait_for(lambda: self.calls == [1])
        others = [threading.Thread(target=command, args=args) for args in queued]
        for thread in others:
            thread.start()
        _wait_for(lambda: len(self.commits._queue) == len(queued))
        self._release.set()
        for thread in (leader, *others):
            thread.join(10)


def test_queued_commands_share_a_transaction_and_a_stale_one_leaves_it(ledger: Ledger) -> None:
    first, conflicting, fine = (_product(ledger, f"prod_g{n}") for n in range(3))
    # Another process moves prod_g1 on: our copy of it is now stale.
    ledger.adjust_stock(AdjustStock("prod_g1", 1, "elsewhere"))

    held = _HeldLeader(ledger)
    outcomes: dict[str, object] = {}
    command = held.adjusting(outcomes)
    held.run(command, ("first", first), [("conflicting", conflicting), ("fine", fine)])

    # The first alone; the two queued ones together, which conflicts on the stale one and
    # commits nothing; then the other one again, without it (not each alone).
    assert held.calls == [1, 2, 1]
    stale = outcomes["conflicting"]
    assert isinstance(stale, StaleAggregateError)
    assert stale.ids == {"prod_g1"}
    for name in ("first", "fine"):
        recordings = outcomes[name]
        assert isinstance(recordings, list)
        assert len(recordings) == 1
    reloaded = ledger.repository.get("prod_g2")
    assert isinstance(reloaded, Product)
    assert reloaded.on_hand == 6


def test_a_stale_group_commits_nothing_not_even_its_command_ids(ledger: Ledger) -> None:
    stale, fresh = _product(ledger, "prod_s1"), _product(ledger, "prod_s2")
    ledger.adjust_stock(AdjustStock("prod_s1", 1, "elsewhere"))
    stale.adjust_stock(1, "test")
    fresh.adjust_stock(1, "test")
    commands = [
        CommandRecord("cmd-stale", "prod_s1", ("prod_s1",), (("prod_s1", stale.version),)),
        CommandRecord("cmd-fresh", "prod_s2", ("prod_s2",), (("prod_s2", fresh.version),)),
    ]

    with pytest.raises(StaleAggregateError) as raised:
        ledger.save(stale, fresh, commands=commands, check_stale=True)

    assert raised.value.ids == {"prod_s1"}
    with ledger.connect() as conn:
        assert lookup(conn, "cmd-stale") is None
        assert lookup(conn, "cmd-fresh") is None
    current = ledger.repository.get("prod_s2")
    assert isinstance(current, Product)
    assert current.on_hand == 5


def test_commands_on_the_same_aggregate_are_never_in_one_transaction(ledger: Ledger) -> None:
    product = _product(ledger, "prod_same")
    copy = ledger.repository.get("prod_same")
    assert isinstance(copy, Product)
    other = _product(ledger, "prod_other")
    held = _HeldLeader(ledger)
    errors: list[BaseException] = []

    def command(aggregate: Product) -> None:
        aggregate.adjust_stock(1, "test")
        try:
            held.commits.save([aggregate])
        except IntegrityError as exc:
            errors.append(exc)

    held.run(command, (other,), [(product,), (copy,)])
    # The two versions of prod_same went in separate transactions: one won, one conflicted.
    assert held.calls == [1, 1, 1]
    assert len(errors) == 1


def test_concurrent_commands_through_the_ledger_all_land(ledger: Ledger) -> None:
    writers = 8
    for n in range(writers):
        _product(ledger, f"prod_c{n}")

    def run(n: int) -> None:
        for _ in range(10):
            ledger.adjust_stock(AdjustStock(f"prod_c{n}", 1, "delivery"))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for n in range(writers):
        product = ledger.repository.get(f"prod_c{n}")
        assert isinstance(product, Product)
        assert product.on_hand == 15


def test_a_group_stops_at_its_event_limit(ledger: Ledger) -> None:
    products = [_product(ledger, f"prod_e{n}") for n in range(3)]
    held = _HeldLeader(ledger, max_events=1)

    def command(aggregate: Product) -> None:
        aggregate.adjust_stock(1, "test")
        held.commits.save([aggregate])

    held.run(command, (products[0],), [(p,) for p in products[1:]])
    # Disjoint, but one event each is the limit: each queued command went on its own.
    assert held.calls == [1, 1, 1]


def test_a_command_known_to_be_stale_leaves_the_group_before_it_is_tried(
    ledger: Ledger,
) -> None:
    """When another process's append has been heard of (ledger.appends), the command that
    decided on the older version fails at once and the group's one transaction commits."""
    first, known_stale, fine = (_product(ledger, f"prod_k{n}") for n in range(3))
    ledger.adjust_stock(AdjustStock("prod_k1", 1, "elsewhere"))
    moved = {"prod_k1": known_stale.version + 1}
    held = _HeldLeader(ledger, moved_past=lambda i, version: moved.get(i, 0) > version)
    outcomes: dict[str, object] = {}
    command = held.adjusting(outcomes)
    held.run(command, ("first", first), [("stale", known_stale), ("fine", fine)])

    assert held.calls == [1, 1]  # never tried with the stale one
    stale = outcomes["stale"]
    assert isinstance(stale, StaleAggregateError)
    assert stale.ids == {"prod_k1"}
    assert isinstance(outcomes["fine"], list)
