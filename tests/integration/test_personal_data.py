"""Personal data (issue #14) on the write side and the projectors: fields sealed in events,
erasure by the key's deletion (`ledger users forget`), export (`ledger users export`), the
upgrade of a store from before sealing (plain-text claims renamed, plain-text events redacted
on erasure), and the master key's rotation (`ledger users rotate-key`)."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

import projections
from ledger import database, personal
from ledger.application import Ledger
from ledger.commands import RegisterUser
from ledger.contract import ERASED, ERASED_ADDRESS
from ledger.domain.errors import DuplicateEmailError
from ledger.personal import SubjectErasedError
from tests.data import SECRET_KEY, SHIPPING_ADDRESS
from tests.integration.test_cli import Run, run  # noqa: F401 - the fixture `cli` wraps
from tests.integration.test_upcasting import insert_event, insert_v1_user
from tests.projector_process import create_product, place_order, rebuilt_snapshot, snapshot

NAME, EMAIL = "Ottoline Varga-Pemberton", "ottoline.vp@example.org"
USER = "ledger.domain.users:User"
ORDER = "ledger.domain.orders:Order"


@pytest.fixture(name="cli")
def cli_fixture(run: Run, capsys: pytest.CaptureFixture[str]) -> Run:  # noqa: F811 - test_cli's fixture, imported above
    """`ledger ARGS` in this process, with the tests' secret (unless told another), its output
    alone (the log lines of the commands before it dropped)."""

    def cli(*args: str, **options: Any) -> Any:
        capsys.readouterr()
        options.setdefault("LEDGER_SECRET_KEY", SECRET_KEY)
        return run(*args, **options)

    return cli


def _register(ledger: Ledger, email: str = EMAIL) -> str:
    command = RegisterUser(name=NAME, email=email, password_hash="$argon2id$fake")
    return ledger.register_user(command).aggregate_id


def _store_text(url: str) -> bytes:
    """Every event and snapshot state, as stored."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT originator_id || convert_from(state, 'UTF8') FROM ledger_events "
            "UNION ALL SELECT originator_id || convert_from(state, 'UTF8') FROM ledger_snapshots"
        ).fetchall()
    return "\n".join(r[0] for r in rows).encode()


def _row(url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()


def test_personal_fields_are_sealed_in_events_and_open_in_the_read_tables(
    ledger: Ledger, database_url: str
) -> None:
    user_id = _register(ledger)
    create_product(ledger, "prod_pd", stock=5)
    place_order(ledger, "ord_pd", {"prod_pd": 1}, customer=user_id)
    stored = _store_text(database_url)
    for plain in (NAME, EMAIL, SHIPPING_ADDRESS.full_name, SHIPPING_ADDRESS.address_line1):
        assert plain.encode() not in stored
    projections.catch_up(database_url)
    assert _row(database_url, "SELECT name, email FROM users WHERE id = %s", user_id) == (
        NAME,
        EMAIL,
    )
    address = _row(database_url, "SELECT shipping_address FROM orders WHERE id = 'ord_pd'")[0]
    assert address == SHIPPING_ADDRESS.as_event_data()


def test_forget_erases_everywhere_and_a_rebuild_agrees(
    ledger: Ledger, database_url: str, cli: Run
) -> None:
    url = database_url
    user_id = _register(ledger)
    create_product(ledger, "prod_pd", stock=5)
    place_order(ledger, "ord_pd", {"prod_pd": 2}, customer=user_id)
    projections.catch_up(url)
    exported = cli("users", "export", user_id, database_url=url)
    assert exported.returncode == 0, exported
    document = json.loads(exported.stdout)
    assert (document["user"]["name"], document["orders"][0]["id"]) == (NAME, "ord_pd")

    forgotten = cli("users", "forget", user_id, "--yes", database_url=url)
    assert (forgotten.returncode, forgotten.stdout.strip()) == (0, f"{user_id} erased")
    projections.catch_up(url)
    user = _row(url, "SELECT name, email, password_hash FROM users WHERE id = %s", user_id)
    assert user == (ERASED, ERASED, ERASED)
    address = _row(url, "SELECT shipping_address, total FROM orders WHERE id = 'ord_pd'")
    assert address == (ERASED_ADDRESS, 500)
    live = snapshot(url)
    assert rebuilt_snapshot(url) == live

    erased = json.loads(cli("users", "export", user_id, database_url=url).stdout)
    assert erased["user"]["email"] == ERASED
    assert set(erased["orders"][0]["shipping_address"].values()) == {ERASED}
    again = cli("users", "forget", user_id, "--yes", database_url=url)
    assert again.returncode == 1
    assert again.stderr.strip() == f"ledger: user {user_id} not found"

    # Nothing new is recorded about them; their email is free for someone else.
    with pytest.raises(SubjectErasedError):
        place_order(ledger, "ord_late", {"prod_pd": 1}, customer=user_id)
    assert _register(ledger) != user_id
    with pytest.raises(DuplicateEmailError):
        _register(ledger)


def test_an_old_stores_plain_claims_are_renamed_and_its_plain_events_redacted_on_erasure(
    ledger: Ledger, database_url: str, cli: Run
) -> None:
    url = database_url
    insert_v1_user(url, "usr_old", NAME, EMAIL)
    claimed = {"originator_topic": "ledger.domain.users:EmailClaim", "user_id": "usr_old"}
    insert_event(url, (f"email:{EMAIL}", 1), "ledger.domain.users:EmailClaim.EmailClaimed", claimed)
    create_product(ledger, "prod_pd", stock=5)
    placed_v1 = {
        "originator_topic": ORDER,
        "customer_id": "usr_old",
        "items": [
            {
                "product_id": "prod_pd",
                "name": "P",
                "quantity": 1,
                "unit_price": 250,
                "subtotal": 250,
            }
        ],
        "total": 250,
        "currency": "USD",
        "shipping_address": SHIPPING_ADDRESS.as_event_data(),
        "payment_method": "card",
    }
    insert_event(url, ("ord_old", 1), f"{ORDER}.OrderPlaced", placed_v1)

    database.upgrade(url)
    assert (
        EMAIL.encode()
        not in _row(url, "SELECT string_agg(originator_id, ',') FROM ledger_events")[0].encode()
    )
    with pytest.raises(DuplicateEmailError):
        _register(ledger)  # the renamed claim still holds the email
    projections.catch_up(url)
    assert _row(url, "SELECT name FROM users WHERE id = 'usr_old'") == (NAME,)

    assert cli("users", "forget", "usr_old", "--yes", database_url=url).returncode == 0
    stored = _store_text(url)
    for plain in (NAME, EMAIL, SHIPPING_ADDRESS.full_name, SHIPPING_ADDRESS.city):
        assert plain.encode() not in stored
    projections.catch_up(url)
    assert _row(url, "SELECT shipping_address FROM orders WHERE id = 'ord_old'") == (
        ERASED_ADDRESS,
    )
    live = snapshot(url)
    assert rebuilt_snapshot(url) == live
    assert _register(ledger) != "usr_old"


def test_rotate_key_rewraps_every_data_key(ledger: Ledger, database_url: str, cli: Run) -> None:
    url = database_url
    _register(ledger)
    new_secret = "n" * 48
    try:
        rotated = cli(
            "users", "rotate-key", "--old-secret-stdin", database_url=url,
            stdin=SECRET_KEY + "\n", LEDGER_SECRET_KEY=new_secret,
        )  # fmt: skip
        assert rotated.returncode == 0, rotated
        assert rotated.stdout.startswith("2 data keys rewrapped")  # the user's, the email index's
        with psycopg.connect(url) as conn:
            projections.catch_up(url)
            assert _row(url, "SELECT name FROM users") == (NAME,)
            with pytest.raises(personal.MasterKeyError):
                personal.KeyRing(personal.MasterKey.from_secret(SECRET_KEY)).lookup(conn)(
                    [r[0] for r in conn.execute("SELECT subject_id FROM personal_keys")]
                )
    finally:
        personal.configure(SECRET_KEY)
