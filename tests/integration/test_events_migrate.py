"""`ledger events migrate` (issue #13, projections.migrate): events stored in old shapes (a
field renamed, a field added, an event renamed) are rewritten into today's schema once a
rebuild from the rewritten events equals the live tables; afterwards, without the upcasters,
the store checks, loads, takes commands and rebuilds to the same tables. A rebuild that
differs swaps nothing; an append during the migrate is kept; an old release's store of
today's shapes has nothing to migrate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import projections
from ledger import upcasting
from ledger.application import Ledger
from ledger.commands import AdjustStock
from ledger.domain import Product
from ledger.domain.base import LedgerSnapshot
from ledger.settings import Settings
from ledger.upcasting import Payload, Upcaster
from ledger_cli.events import ALL_GOOD, NOTHING_TO_DO
from projections import migrate
from projections.rebuild import Progress
from tests.integration.test_cli import (
    Run,
    run,  # noqa: F401 - the fixture `cli` wraps
)
from tests.integration.test_old_store import STORES, load_store, read_fixture
from tests.integration.test_upcasting import created_v1, insert_event
from tests.projector_process import create_product, rebuilt_snapshot, snapshot


@pytest.fixture(name="cli")
def cli_fixture(run: Run) -> Run:  # noqa: F811 - test_cli's fixture, imported above
    """`ledger ARGS` in this process, where the tests' upcasters are registered."""
    return run


CREATED = "ledger.domain.products:Product.ProductCreated"
PRICE_SET = "ledger.domain.products:Product.PriceSet"


def _title_to_name(payload: Payload) -> Payload:
    payload = dict(payload)
    payload["name"] = payload.pop("title")
    return payload


def _default_tags(payload: Payload) -> Payload:
    return {**payload, "tags": payload.get("tags", [])}


def _new_price_to_price(payload: Payload) -> Payload:
    return {"price": payload["new_price"], "old_price": payload["old_price"]}


UPCASTERS = (
    Upcaster("ProductCreated", 1, "ProductCreated", 2, _title_to_name),
    Upcaster("ProductCreated", 2, "ProductCreated", 3, _default_tags),
    Upcaster("PriceSet", 1, "PriceChanged", 1, _new_price_to_price),
)


@pytest.fixture
def created_v3(monkeypatch: pytest.MonkeyPatch) -> None:
    """ProductCreated as if today it were at class_version 3 (v1 and v2 stored before)."""
    monkeypatch.setattr(
        "ledger.domain.products.Product.ProductCreated.class_version", 3, raising=False
    )


def _created_v2(product_id: str) -> dict[str, Any]:
    v2 = {**created_v1(product_id), "class_version": 2, "name": f"Old {product_id}"}
    del v2["title"], v2["tags"]
    return v2


def _old_store(url: str, settings: Settings) -> None:
    """Today's events and old ones: ProductCreated v1 and v2, and a PriceSet."""
    ledger = Ledger(settings, url, pool_size=2)
    try:
        create_product(ledger, "prod_today", stock=3)
    finally:
        ledger.close()
    insert_event(url, ("prod_v1", 1), CREATED, created_v1("prod_v1"))
    insert_event(url, ("prod_v2", 1), CREATED, _created_v2("prod_v2"))
    insert_event(url, ("prod_v1", 2), PRICE_SET, {"new_price": 400, "old_price": 250})


def _store(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM ledger_events ORDER BY notification_id"
        ).fetchall()


def _copy_schema_exists(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", (migrate.SCHEMA,)).fetchone()
    return bool(row and row[0])


def test_migrate_rewrites_old_events_and_the_upcasters_can_go(
    make_database: Callable[[], str], settings: Settings, cli: Run, created_v3: None
) -> None:
    url = make_database()
    with upcasting.registered(*UPCASTERS):
        _old_store(url, settings)
        projections.catch_up(url)
        live = snapshot(url)
        stored = _store(url)

        dry = cli("events", "migrate", "--dry-run", database_url=url)
        assert dry.returncode == 0, dry
        assert "every table equals the live one" in dry.stdout
        assert dry.stdout.strip().endswith("dry run: nothing was changed")
        assert _store(url) == stored

        done = cli("events", "migrate", database_url=url)
        assert done.returncode == 0, done
        lines = done.stdout.strip().splitlines()
        assert lines[0].startswith("copied the store through position 4: 3 events of old")
        assert "rewrote 3 stored events into today's schema" in done.stdout
        assert lines[-1] == (
            "the upcasters of PriceSet v1, ProductCreated v1, ProductCreated v2 can be deleted"
        )
        assert "products: rebuilt from the migrated events" in done.stdout
    assert not _copy_schema_exists(url)

    # Positions and versions stay; the old rows are today's shape; the others untouched.
    after = _store(url)
    assert [r[:3] for r in after] == [r[:3] for r in stored]
    assert after[0] == stored[0]
    assert {r[3] for r in after[1:]} == {CREATED, "ledger.domain.products:Product.PriceChanged"}

    # Without the upcasters: the check passes, aggregates load and take commands, a rebuild
    # of every projection gives the tables the live projection had.
    check = cli("events", "check", database_url=url)
    assert (check.returncode, check.stdout.strip()) == (0, ALL_GOOD)
    assert rebuilt_snapshot(url) == live
    ledger = Ledger(settings, url, pool_size=2)
    try:
        v1 = ledger.load("prod_v1", cached=False)
        assert isinstance(v1, Product)
        assert (v1.name, v1.tags, v1.price, v1.version) == ("Old prod_v1", ["a"], 400, 2)
        v2 = ledger.load("prod_v2", cached=False)
        assert isinstance(v2, Product)
        assert (v2.name, v2.tags) == ("Old prod_v2", [])
        ledger.adjust_stock(AdjustStock("prod_v1", 3, "delivery"))
        ledger.adjust_stock(AdjustStock("prod_v2", 1, "delivery"))
    finally:
        ledger.close()
    projections.catch_up(url)
    with psycopg.connect(url) as conn:
        stock = conn.execute(
            "SELECT id, on_hand FROM products WHERE id LIKE 'prod_v_' ORDER BY id"
        ).fetchall()
    assert stock == [("prod_v1", 10), ("prod_v2", 8)]

    again = cli("events", "migrate", database_url=url)
    assert (again.returncode, again.stdout.strip()) == (0, NOTHING_TO_DO)


def _shouting(payload: Payload) -> Payload:
    """ProductCreated v1 read differently from what the live tables were projected with."""
    renamed = _title_to_name(payload)
    return {**renamed, "name": renamed["name"].upper()}


def test_a_migrate_whose_rebuild_differs_changes_nothing(
    make_database: Callable[[], str], settings: Settings, cli: Run, created_v3: None
) -> None:
    url = make_database()
    with upcasting.registered(*UPCASTERS):
        _old_store(url, settings)
        projections.catch_up(url)
    stored = _store(url)
    changed = (Upcaster("ProductCreated", 1, "ProductCreated", 2, _shouting), *UPCASTERS[1:])
    with upcasting.registered(*changed):
        result = cli("events", "migrate", database_url=url)
    assert result.returncode == 1, result
    # Progress lines (as a rebuild's), then the failure.
    assert result.stderr.strip().splitlines()[-1] == (
        "ledger: 3 tables differ from the live ones: nothing was changed"
    )
    # The history holds the event's fields as they read: the name shouted too.
    for table in ("products", "inventory", "event_history"):
        assert f"{table}: 1 rows only in the live table, 1 only in the rebuild" in result.stdout
    assert "'Old prod_v1'" in result.stdout
    assert "'OLD PROD_V1'" in result.stdout
    assert _store(url) == stored
    assert not _copy_schema_exists(url)


def test_an_append_during_the_migrate_is_kept(
    make_database: Callable[[], str], settings: Settings, created_v3: None
) -> None:
    url = make_database()
    appended: list[int] = []

    def append_once(_: Progress) -> None:
        """During the copy's rebuild: today's code appends, and an old release too."""
        if appended:
            return
        ledger = Ledger(settings, url, pool_size=2)
        try:
            create_product(ledger, "prod_meanwhile", stock=2)
        finally:
            ledger.close()
        appended.append(insert_event(url, ("prod_old_meanwhile", 1), CREATED, created_v1("x")))
        # The live projections move past the copy's head: the comparison follows them.
        projections.catch_up(url)

    with upcasting.registered(*UPCASTERS):
        _old_store(url, settings)
        projections.catch_up(url)
        outcome = migrate.run(url, progress=append_once, wait_seconds=5)
        assert outcome.swapped, outcome.differences
        assert (outcome.head, outcome.updated, outcome.appended_old) == (4, 4, 1)
        assert set(outcome.compared_at.values()) == {6}
    rows = _store(url)
    assert [r[1] for r in rows[4:]] == ["prod_meanwhile", "prod_old_meanwhile"]
    assert {r[3] for r in rows} <= {CREATED, "ledger.domain.products:Product.PriceChanged"}
    assert b"title" not in bytes(rows[-1][4])
    projections.catch_up(url)  # without the upcasters
    with psycopg.connect(url) as conn:
        names = conn.execute(
            "SELECT id, name FROM products WHERE id LIKE '%meanwhile' ORDER BY id"
        ).fetchall()
    assert names == [("prod_meanwhile", "Product prod_meanwhile"), ("prod_old_meanwhile", "Old x")]


@pytest.mark.parametrize("path", STORES, ids=[p.stem for p in STORES])
def test_an_old_releases_store_has_nothing_to_migrate(
    make_database: Callable[[], str], cli: Run, path: Any
) -> None:
    url = make_database()
    load_store(url, read_fixture(path))
    projections.catch_up(url)
    stored, live = _store(url), snapshot(url)
    result = cli("events", "migrate", database_url=url)
    # Its users' and orders' events are from before personal fields were sealed (issue #14):
    # they stay, read through their upcasters, until an erasure redacts them.
    assert (result.returncode, result.stdout.strip()) == (
        0,
        "nothing to rewrite: the stored events of old versions (OrderPlaced v1, "
        "UserRegistered v1) are split, dropped or unsealed by their upcasters, which must stay",
    )
    assert (_store(url), snapshot(url)) == (stored, live)
    assert not _copy_schema_exists(url)


def test_snapshots_of_an_old_version_are_deleted(
    make_database: Callable[[], str],
    settings: Settings,
    cli: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Snapshots are a cache: of an old version, the migrate deletes them (aggregates load from
    their events); with no event of an old version there is nothing to copy or compare."""
    url = make_database()
    load_store(url, read_fixture(STORES[0]))
    projections.catch_up(url)
    stored = _store(url)
    # Today's snapshots at class_version 2, through the library's own upcasting.
    monkeypatch.setattr(LedgerSnapshot, "class_version", 2, raising=False)
    monkeypatch.setattr(
        LedgerSnapshot, "upcast_v1_v2", staticmethod(lambda state: None), raising=False
    )
    result = cli("events", "migrate", database_url=url)
    assert result.returncode == 0, result
    assert result.stdout.strip().splitlines() == [
        "rewrote 0 stored events into today's schema, deleted 1 snapshots of old versions"
    ]
    assert _store(url) == stored
    check = cli("events", "check", database_url=url)
    assert (check.returncode, check.stdout.strip()) == (0, ALL_GOOD)
    ledger = Ledger(settings, url, pool_size=2)
    try:
        pen = ledger.load("prod_pen", cached=False)
        assert isinstance(pen, Product)
        assert (pen.version, pen.on_hand, pen.reserved) == (108, 104, 5)
    finally:
        ledger.close()
