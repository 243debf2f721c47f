"""`ledger events show ID` (issue #13): one aggregate's events, in order, as today's code reads
them: an event stored in an old shape is shown in today's, through the projectors' decoding."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ledger import upcasting
from ledger.application import Ledger
from ledger.commands import AdjustStock
from ledger.upcasting import Payload, Upcaster
from tests.integration.test_cli import (
    Run,
    one_line_error,
    run,  # noqa: F401 - the fixture `cli` wraps
)
from tests.projector_process import create_product


@pytest.fixture(name="cli")
def cli_fixture(run: Run) -> Run:  # noqa: F811 - test_cli's fixture, imported above
    """`ledger ARGS` in this process, where the tests' upcasters are registered."""
    return run


PRICE_SET = "ledger.domain.products:Product.PriceSet"
STAMP = "2026-11-26T16:33:28.743703+00:00"


def _price_set_to_price_changed(payload: Payload) -> Payload:
    """PriceSet v1, today PriceChanged: `new_price` is today's `price`."""
    return {"price": payload["new_price"], "old_price": payload["old_price"]}


def _insert_old(url: str, originator: tuple[str, int], topic: str, state: dict[str, Any]) -> None:
    stamp = {"_type_": "datetime_iso", "_data_": STAMP}
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO ledger_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, convert_to(%s::text, 'UTF8'))",
            (*originator, topic, Jsonb({"timestamp": stamp, **state})),
        )


def test_show_lists_the_events_in_order_in_todays_shape(
    ledger: Ledger, database_url: str, cli: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    create_product(ledger, "prod_show", stock=5, price=250)
    ledger.adjust_stock(AdjustStock("prod_show", 3, "delivery"))
    _insert_old(database_url, ("prod_show", 3), PRICE_SET, {"new_price": 400, "old_price": 250})
    capsys.readouterr()  # the commands' log lines
    renamed = Upcaster("PriceSet", 1, "PriceChanged", 1, _price_set_to_price_changed)
    with upcasting.registered(renamed):
        result = cli("events", "show", "prod_show", "--format", "json", database_url=database_url)
    assert result.returncode == 0, result
    events = json.loads(result.stdout)
    assert [(e["version"], e["event"]) for e in events] == [
        (1, "ProductCreated"),
        (2, "StockReceived"),
        (3, "PriceChanged"),
    ]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    created = events[0]["fields"]
    assert (created["name"], created["price"], created["on_hand"]) == ("Product prod_show", 250, 5)
    assert events[1]["fields"]["on_hand"] == 8
    assert events[2]["fields"] == {"price": 400, "old_price": 250}
    assert events[2]["time"] == STAMP

    table = cli("events", "show", "prod_show", database_url=database_url)
    assert table.returncode == 0, table
    header = table.stdout.splitlines()[1]
    assert header.split() == ["┃", "position", "┃", "version", "┃", "time", "┃", "event", "┃",
                              "fields", "┃"]  # fmt: skip
    assert "StockReceived" in table.stdout


def test_show_of_an_unknown_id_fails_in_one_line(database_url: str, cli: Run) -> None:
    result = cli("events", "show", "prod_nowhere", database_url=database_url)
    assert one_line_error(result) == "ledger: no events of aggregate prod_nowhere in the store"
