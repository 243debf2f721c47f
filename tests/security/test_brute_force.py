"""Guessing passwords: limited per account (from any number of addresses) and per address (over
any number of accounts), and the answers never tell whether an email is registered."""

from __future__ import annotations

import itertools

import httpx

from tests.api_steps import register
from tests.data import PASSWORD, unique_email
from tests.security.conftest import AUTH_PER_ADDRESS, LOGIN_FAILURES_PER_EMAIL, address_client
from tests.servers import LedgerStack

WRONG = "Wrong-Password-123!"


def test_failed_logins_are_limited_per_account_across_addresses(stack: LedgerStack) -> None:
    email = unique_email("victim")
    with address_client(stack) as client:
        register(client, email)
    attempts = []
    for _ in range(LOGIN_FAILURES_PER_EMAIL + 1):
        # Each guess from a new address: the per-address limit is not what stops them.
        with address_client(stack) as attacker:
            attempts.append(attacker.post("/auth/login", json={"email": email, "password": WRONG}))
    assert [r.status_code for r in attempts] == [401] * LOGIN_FAILURES_PER_EMAIL + [429]
    limited = attempts[-1]
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) > 0
    # Even the right password waits now: the attacker cannot learn it by being right.
    with address_client(stack) as owner:
        right = owner.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert right.status_code == 429


def test_sign_ins_are_limited_per_address_across_accounts(client: httpx.Client) -> None:
    statuses = [
        client.post(
            "/auth/login", json={"email": unique_email("spray"), "password": WRONG}
        ).status_code
        for _ in range(AUTH_PER_ADDRESS + 2)
    ]
    assert statuses[:AUTH_PER_ADDRESS] == [401] * AUTH_PER_ADDRESS
    assert statuses[AUTH_PER_ADDRESS:] == [429, 429]
    registering = client.post(
        "/auth/register", json={"name": "N", "email": unique_email(), "password": PASSWORD}
    )
    assert registering.status_code == 429


def test_an_unknown_email_and_a_wrong_password_look_the_same(stack: LedgerStack) -> None:
    known = unique_email("known")
    with address_client(stack) as client:
        register(client, known)
    answers = []
    for email in itertools.islice(itertools.cycle([known, unique_email("nobody")]), 4):
        with address_client(stack) as client:
            answers.append(client.post("/auth/login", json={"email": email, "password": WRONG}))
    assert {r.status_code for r in answers} == {401}
    assert len({r.content for r in answers}) == 1
    assert len({r.headers.get("WWW-Authenticate") for r in answers}) == 1
