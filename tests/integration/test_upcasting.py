"""Upcasters (issue #13, ledger.upcasting) on every path that reads events: old-shape events
written by plain SQL are projected live, by a rebuild and by a dead-letter retry, load as
aggregates that accept new commands, and an event renamed by an upcaster reaches the handler
of its new name. The registry is empty in production; these tests fill it for their duration."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

import projections
from ledger import upcasting
from ledger.application import Ledger
from ledger.commands import AdjustStock
from ledger.domain import Product
from ledger.settings import Settings
from ledger.upcasting import Payload, Upcaster
from projections import dead_letters
from projections.registry import PROJECTIONS
from tests.processes import cli_env, spawn_cli, stop
from tests.projector_process import create_product, rebuilt_snapshot, run_cli, snapshot

CREATED = "ledger.domain.products:Product.ProductCreated"


def _title_to_name(payload: Payload) -> Payload:
    """ProductCreated v1 called the name `title` (a renamed field)."""
    payload = dict(payload)
    payload["name"] = payload.pop("title")
    return payload


def _default_tags(payload: Payload) -> Payload:
    """ProductCreated v2 had no tags (a field added with a default)."""
    return {**payload, "tags": payload.get("tags", [])}


def _same(payload: Payload) -> Payload:
    return payload


@pytest.fixture
def product_created_v3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """ProductCreated as if it were at class_version 3: v1 renamed a field, v2 lacked one."""
    monkeypatch.setattr(Product.ProductCreated, "class_version", 3, raising=False)
    with upcasting.registered(
        Upcaster("ProductCreated", 1, "ProductCreated", 2, _title_to_name),
        Upcaster("ProductCreated", 2, "ProductCreated", 3, _default_tags),
    ):
        yield


@pytest.fixture
def price_set_renamed() -> Iterator[None]:
    """An event once called PriceSet, today PriceChanged (an event renamed)."""
    with upcasting.registered(Upcaster("PriceSet", 1, "PriceChanged", 1, _same)):
        yield


def insert_event(url: str, originator: tuple[str, int], topic: str, state: dict[str, Any]) -> int:
    stamp = {"_type_": "datetime_iso", "_data_": "2026-11-26T16:33:28.743703+00:00"}
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO ledger_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, convert_to(%s::text, 'UTF8')) RETURNING notification_id",
            (*originator, topic, Jsonb({"timestamp": stamp, **state})),
        ).fetchone()
    assert row is not None
    return int(row[0])


def insert_v1_user(url: str, user_id: str, name: str, email: str) -> int:
    """A user registered by the first release: a v1 UserRegistered, its fields in plain text."""
    registered_v1 = {
        "originator_topic": "ledger.domain.users:User",
        "name": name,
        "email": email,
        "password_hash": "$argon2id$old",
        "role": "customer",
    }
    return insert_event(url, (user_id, 1), "ledger.domain.users:User.UserRegistered", registered_v1)


def created_v1(product_id: str) -> dict[str, Any]:
    return {
        "originator_topic": "ledger.domain.products:Product",
        "title": f"Old {product_id}",
        "description": "from release 0.1",
        "price": 250,
        "currency": "EUR",
        "category": "old",
        "tags": ["a"],
        "images": [],
        "on_hand": 7,
    }


def _products(url: str) -> dict[str, tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, name, price, tags, on_hand FROM products").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_an_old_payload_is_projected_live_by_a_rebuild_and_by_a_dead_letter_retry(
    ledger: Ledger, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = database_url
    # Stored before the upcaster was deployed: the handler fails on the missing name.
    parked_at = insert_event(url, ("prod_parked", 1), CREATED, created_v1("prod_parked"))
    projections.catch_up(url)
    with psycopg.connect(url) as conn:
        parked = [d.position for d in dead_letters.list_dead_letters(conn, "products")]
    assert parked == [parked_at]

    monkeypatch.setattr(Product.ProductCreated, "class_version", 3, raising=False)
    with upcasting.registered(
        Upcaster("ProductCreated", 1, "ProductCreated", 2, _title_to_name),
        Upcaster("ProductCreated", 2, "ProductCreated", 3, _default_tags),
    ):
        # Live: v1 (renamed field) and v2 (no tags) both reach today's handler.
        insert_event(url, ("prod_v1", 1), CREATED, created_v1("prod_v1"))
        v2 = {**created_v1("prod_v2"), "class_version": 2, "name": "Old prod_v2"}
        del v2["title"], v2["tags"]
        insert_event(url, ("prod_v2", 1), CREATED, v2)
        projections.catch_up(url)
        assert _products(url)["prod_v1"] == ("Old prod_v1", 250, ["a"], 7)
        assert _products(url)["prod_v2"] == ("Old prod_v2", 250, [], 7)

        # The dead letter, retried once the upcaster is there.
        result = dead_letters.retry(url, PROJECTIONS["products"]())
        assert (result.applied, result.still_parked) == (1, 0)
        for projection in PROJECTIONS.values():  # any other projection that parked it
            assert dead_letters.retry(url, projection()).still_parked == 0
        assert _products(url)["prod_parked"] == ("Old prod_parked", 250, ["a"], 7)

        # A rebuild (COPY into the shadow tables) produces the same tables.
        live = snapshot(url)
        assert rebuilt_snapshot(url) == live


def test_an_aggregate_of_an_old_event_version_loads_and_accepts_a_command(
    database_url: str, settings: Settings, product_created_v3: None
) -> None:
    v2 = {**created_v1("prod_old"), "class_version": 2, "name": "Old one"}
    del v2["title"], v2["tags"]
    insert_event(database_url, ("prod_old", 1), CREATED, v2)
    insert_event(database_url, ("prod_older", 1), CREATED, created_v1("prod_older"))
    ledger = Ledger(settings, database_url, pool_size=2)
    try:
        old = ledger.load("prod_old", cached=False)
        assert isinstance(old, Product)
        assert (old.name, old.tags, old.on_hand) == ("Old one", [], 7)
        older = ledger.load("prod_older", cached=False)
        assert isinstance(older, Product)
        assert (older.name, older.tags) == ("Old prod_older", ["a"])
        ledger.adjust_stock(AdjustStock("prod_old", 3, "delivery"))
        again = ledger.repository.get("prod_old")
        assert (again.version, again.on_hand) == (2, 10)
    finally:
        ledger.close()


def test_an_event_renamed_by_an_upcaster_reaches_the_new_names_handler(
    ledger: Ledger, database_url: str, settings: Settings, price_set_renamed: None
) -> None:
    url = database_url
    create_product(ledger, "prod_renamed", stock=5, price=250)
    insert_event(
        url,
        ("prod_renamed", 2),
        "ledger.domain.products:Product.PriceSet",
        {"price": 400, "old_price": 250},
    )
    projections.catch_up(url)
    assert _products(url)["prod_renamed"][1] == 400
    # The rebuild's SQL filter asks for the old name too.
    live = snapshot(url)
    assert rebuilt_snapshot(url) == live
    assert _products(url)["prod_renamed"][1] == 400
    # The aggregate loads it as PriceChanged and takes new commands.
    fresh = Ledger(settings, url, pool_size=2)
    try:
        product = fresh.load("prod_renamed", cached=False)
        assert isinstance(product, Product)
        assert (product.price, product.version) == (400, 2)
        fresh.adjust_stock(AdjustStock("prod_renamed", 1, "delivery"))
    finally:
        fresh.close()


def test_events_check_names_each_stored_type_without_a_path(
    ledger: Ledger, database_url: str, tmp_path: Path
) -> None:
    create_product(ledger, "prod_fine")
    done = run_cli(database_url, tmp_path, "events", "check")
    assert (done.returncode, done.stdout.strip()) == (
        0,
        "every stored event type has a path to today's schema",
    )
    insert_event(database_url, ("prod_x", 1), CREATED, {**created_v1("prod_x"), "class_version": 2})
    insert_event(database_url, ("prod_x", 2), "ledger.domain.products:Product.PriceSet", {})
    done = run_cli(database_url, tmp_path, "events", "check")
    assert done.returncode == 1
    lines = done.stdout.strip().splitlines()
    assert lines == [
        "ledger.domain.products:Product.PriceSet v1: no event class "
        "ledger.domain.products:Product.PriceSet today",
        f"{CREATED} v2: newer than today's class_version 1 (written by a later release?)",
    ]


START_COMMANDS = {
    "serve": ["serve", "--port", "0"],
    "projector run": ["projector", "run", "--metrics-port", "0"],
}
UNKNOWN = "ledger.domain.products:Product.PriceSet"
NO_PATH = {
    "unknown topic": (UNKNOWN, {}, f"{UNKNOWN} v1: no event class {UNKNOWN} today"),
    "too new": (
        CREATED,
        {**created_v1("prod_x"), "class_version": 2},
        f"{CREATED} v2: newer than today's class_version 1 (written by a later release?)",
    ),
}


@pytest.mark.parametrize("command", list(START_COMMANDS))
@pytest.mark.parametrize("kind", list(NO_PATH))
def test_a_service_refuses_to_start_on_a_stored_event_without_a_path(
    ledger: Ledger, database_url: str, tmp_path: Path, command: str, kind: str
) -> None:
    create_product(ledger, "prod_fine")
    topic, state, problem = NO_PATH[kind]
    insert_event(database_url, ("prod_x", 1), topic, state)
    log = tmp_path / "service.log"
    process = spawn_cli(START_COMMANDS[command], cli_env(database_url, tmp_path), log, tmp_path)
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stop(process)
        pytest.fail(f"`ledger {command}` started: {log.read_text()[-2000:]}")
    assert code == 1
    assert log.read_text().strip().splitlines() == [
        f"ledger: refusing to start: {problem}; run ledger events check for the full list"
    ]


def test_the_start_check_scans_only_new_events_and_remembers_the_rest(
    ledger: Ledger, database_url: str
) -> None:
    from ledger.eventstore import EVENTS_TABLE, SNAPSHOTS_TABLE

    create_product(ledger, "prod_fine")
    with psycopg.connect(database_url) as conn:
        first = upcasting.seen_pairs(conn, EVENTS_TABLE, SNAPSHOTS_TABLE)
        assert first == {(CREATED, 1)}
        through = conn.execute("SELECT checked_through FROM event_versions_scan").fetchone()
        assert through is not None
        assert through[0] >= 1
    insert_event(database_url, ("prod_x", 1), UNKNOWN, {})
    create_product(ledger, "prod_later")
    with psycopg.connect(database_url) as conn:
        assert upcasting.seen_pairs(conn, EVENTS_TABLE, SNAPSHOTS_TABLE) == {
            (CREATED, 1),
            (UNKNOWN, 1),
        }
        # A pair already seen stays seen, though its events are not parsed again.
        conn.execute("DELETE FROM ledger_events WHERE topic = %s", (UNKNOWN,))
        conn.commit()
        assert (UNKNOWN, 1) in (upcasting.seen_pairs(conn, EVENTS_TABLE, SNAPSHOTS_TABLE) or ())
        # An emptied store (head below the scan) is scanned again from the start.
        conn.execute("TRUNCATE ledger_events RESTART IDENTITY")
        conn.commit()
        assert upcasting.seen_pairs(conn, EVENTS_TABLE, SNAPSHOTS_TABLE) == set()
