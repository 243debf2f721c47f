"""A store the previous release wrote, served by today's ledger (issue #13): the database at
that release's schema (revision 0008) holding tests/fixtures/store_0.1.0.json's events,
upgraded with `ledger db upgrade`, projected live by today's projector and served by two API
processes. Every view of the story answers as the story says, and a rebuild of every
projection changes none of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from api.security import create_access_token
from ledger import database
from tests.data import auth, make_settings
from tests.integration.test_old_store import FIXTURES, STORY_DAY, load_store, read_fixture
from tests.processes import wait_until
from tests.projector_process import caught_up, run_cli
from tests.servers import LedgerStack, ledger_stack

RELEASE = "0.1.0"
RELEASE_SCHEMA = "0008"  # the last migration release 0.1.0 shipped
ADMIN, CUSTOMER = ("usr_0001", "admin"), ("usr_0002", "customer")
PRODUCTS = ("prod_chair", "prod_lamp", "prod_mug", "prod_pen")
ORDERS = (
    "ord_cancelled", "ord_confirmed", "ord_delivered", "ord_pending", "ord_refunded",
    "ord_returned", "ord_stopped",
)  # fmt: skip
DAY = STORY_DAY.isoformat()


def _token(user: tuple[str, str]) -> dict[str, str]:
    token, _ = create_access_token(make_settings(), *user)
    return auth(token)


def _views(stack: LedgerStack) -> dict[str, Any]:
    """Every view of the story, by path: the catalog, each customer's orders and their
    histories, the user's profile, every report."""
    customer, admin = _token(CUSTOMER), _token(ADMIN)
    reads = [("/products", customer), *((f"/products/{p}", customer) for p in PRODUCTS)]
    reads += [("/orders", customer), ("/orders?page_size=100", admin), ("/auth/me", customer)]
    for order in ORDERS:
        reads += [(f"/orders/{order}", customer), (f"/orders/{order}/history", customer)]
    reads += [
        (f"/reports/sales?from={DAY}&to={DAY}", admin),
        (f"/reports/products/top?from={DAY}&to={DAY}", admin),
        ("/reports/inventory", admin),
        ("/reports/orders/status", admin),
    ]
    views: dict[str, Any] = {}
    with stack.client(timeout=30) as client:
        for path, headers in reads:
            response = client.get(path, headers=headers)
            assert response.status_code == 200, f"GET {path}: {response.text[:300]}"
            views[path] = response.json()["data"]
    return views


@pytest.fixture
def old_release_database(make_database: Callable[[], str], tmp_path: Path) -> str:
    """A fresh database at the release's schema holding its store, upgraded by the CLI."""
    url = make_database()
    command.downgrade(database._alembic_config(url), RELEASE_SCHEMA)
    load_store(url, read_fixture(FIXTURES / f"store_{RELEASE}.json"))
    upgraded = run_cli(url, tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert database.current_revision(url) == database.head_revision()
    return url


def test_the_old_store_serves_every_view_and_a_rebuild_changes_none(
    old_release_database: str, redis_server_url: str, tmp_path: Path
) -> None:
    url = old_release_database
    with ledger_stack(url, redis_server_url, tmp_path) as stack:
        wait_until(caught_up(url), timeout=30, what="today's projector over the old store")
        served = _views(stack)
        rebuilt = run_cli(url, tmp_path, "projections", "rebuild", "--all")
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert _views(stack) == served, "the rebuild changed what the API serves"

    assert [o["id"] for o in served["/orders"]]
    assert len(served["/orders?page_size=100"]) == 7
    statuses = {o["id"]: o["status"] for o in served["/orders?page_size=100"]}
    assert statuses == {
        "ord_cancelled": "cancelled", "ord_confirmed": "confirmed", "ord_delivered": "delivered",
        "ord_pending": "pending", "ord_refunded": "refunded", "ord_returned": "refunded",
        "ord_stopped": "cancelled",
    }  # fmt: skip
    assert len(served["/orders/ord_delivered/history"]) == 5
    assert served["/auth/me"]["email"] == "bob@example.com"
    mug = served["/products/prod_mug"]
    assert (mug["name"], mug["tags"]) == ("Big Mug", ["kitchen"])
    [day] = served[f"/reports/sales?from={DAY}&to={DAY}"]
    assert day["orders"] == 5
