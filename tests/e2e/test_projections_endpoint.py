"""GET /projections: the figures of `ledger projections status`, lease holders included."""

from __future__ import annotations

import httpx
import psycopg

from projections.registry import PROJECTIONS
from projections.status import read_status
from tests.data import auth
from tests.servers import LedgerStack


def test_projections_shows_each_projections_figures_and_lease_holder(
    stack: LedgerStack, client: httpx.Client, admin_token: str
) -> None:
    answer = client.get("/projections", headers=auth(admin_token))
    assert answer.status_code == 200, answer.text
    shown = {row["name"]: row for row in answer.json()["data"]}
    assert set(shown) == set(PROJECTIONS)
    with psycopg.connect(stack.database_url) as conn:
        leases = {status.name: status.lease for status in read_status(conn)}
    assert all(leases.values()), leases  # the stack's projector holds every lease
    assert {name: row["lease"] for name, row in shown.items()} == leases
    assert all(row["state"] for row in shown.values())
