"""A corpus of hand-written nasties against every endpoint of the OpenAPI: invalid UTF-8, NUL
bytes, 10 MB bodies, deep nesting, huge and negative numbers, wrong content types, SQL and
shell metacharacters in every path and query parameter, nasty headers on every read. No answer
is a 5xx; every refusal is a 4xx with the error envelope and leaves no event behind."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import psycopg
import pytest

from tests.data import auth
from tests.fuzz.conftest import FuzzWorld

METACHARACTERS = [
    "' OR '1'='1",
    "'; DROP TABLE ledger_events; --",
    '" OR ""="',
    "1; SELECT pg_sleep(10)",
    "$(reboot)",
    "`id`",
    "| cat /etc/passwd",
    "&& rm -rf /",
    "../../../../etc/passwd",
    "%00",
    "%27%20OR%201=1",
    "{{7*7}}",
    "\\x00\\",
    "ñ\u202e\ufeff\U0001f4a5",
]
BIG = 10 * 1024 * 1024
STRING_FIELDS = (
    "name", "email", "password", "refresh_token", "reason", "carrier", "tracking_number",
    "payment_intent_id", "category", "payment_method",
)  # fmt: skip
NUMBERS = ["1e400", "-1e400", "99999999999999999999999999999999", "-1", "-0", "NaN", "1.5"]
BODIES: list[tuple[str, bytes, str]] = [
    ("invalid utf-8", b'{"name": "\xff\xfe\xfd", "email": "\xc3\x28"}', "application/json"),
    ("raw NUL byte", b'{"name": "a\x00b"}', "application/json"),
    ("escaped NUL", json.dumps(dict.fromkeys(STRING_FIELDS, "a\u0000b")).encode(),
     "application/json"),
    ("lone surrogate", b'{"name": "\\ud800", "reason": "\\udfff"}', "application/json"),
    ("deep array", b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ("deep object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
    ("huge numbers", b'{"quantity": 1e400, "delta": -99999999999999999999999999999, '
                     b'"price": 1e308, "stock": -1, "items": [{"product_id": "p", '
                     b'"quantity": 99999999999999999999999}]}', "application/json"),
    ("NaN", b'{"price": NaN, "delta": Infinity, "quantity": -Infinity}', "application/json"),
    ("not json", b"name=x&price=1", "application/json"),
    ("json as text/plain", b'{"name": "x"}', "text/plain"),
    ("xml", b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
            b"<x>&e;</x>", "application/xml"),
    ("form", b"name=x&price=1", "application/x-www-form-urlencoded"),
    ("multipart", b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\ny\r\n--b--\r\n",
     "multipart/form-data; boundary=b"),
    ("empty", b"", "application/json"),
    ("null", b"null", "application/json"),
    ("a list", b"[]", "application/json"),
    ("a string", b'"x"', "application/json"),
    ("10 MB", b'{"name": "' + b"a" * BIG + b'"}', "application/json"),
]  # fmt: skip
HEADERS: list[dict[str, str]] = [
    {"X-Ledger-Consistency": "-1"},
    {"X-Ledger-Consistency": "99999999999999999999999999"},
    {"X-Ledger-Consistency": "' OR 1=1"},
    {"Idempotency-Key": "$(reboot) `id`"},
    {"Idempotency-Key": "k" * 500},
    {"Authorization": "Bearer ' OR '1'='1"},
    {"Authorization": "Basic YWRtaW46YWRtaW4="},
    {"X-Request-ID": "'; DROP TABLE users; --"},
]

pytestmark = pytest.mark.slow


def _operations(client: httpx.Client) -> list[tuple[str, str, dict[str, Any]]]:
    schema = client.get("/openapi.json").json()
    return [
        (method.upper(), path, spec)
        for path, methods in schema["paths"].items()
        for method, spec in methods.items()
    ]


def _fill(path: str, world: FuzzWorld, value: str | None = None) -> str:
    product = value if value is not None else world.product
    order = value if value is not None else world.order
    return path.replace("{product_id}", product).replace("{order_id}", order)


class Store:
    """The event count, read after every request: a refusal must leave it unchanged."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.count = self._read()

    def _read(self) -> int:
        row = self.conn.execute("SELECT count(*) FROM ledger_events").fetchone()
        assert row is not None
        return int(row[0])

    def check(self, response: httpx.Response, what: str) -> None:
        count = self._read()
        if response.status_code >= 400:
            assert count == self.count, f"a refused request stored events: {what}"
        self.count = count


def _check(response: httpx.Response, tally: Counter[str], what: str, store: Store) -> None:
    store.check(response, what)
    tally[str(response.status_code)] += 1
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert body["success"] is False, what
        assert set(body["error"]) == {"code", "message", "details"}, what
        assert isinstance(body["error"]["code"], str), what


def test_no_nasty_gives_a_5xx_and_no_refusal_stores_anything(world: FuzzWorld) -> None:
    tally: Counter[str] = Counter()
    store = Store(world.stack.database_url)
    with world.stack.client(timeout=60, base_url=world.stack.base_url) as client:
        operations = _operations(client)
        for method, path, spec in operations:
            url = _fill(path, world)
            if "requestBody" in spec:
                for name, body, content_type in BODIES:
                    headers = {**auth(world.admin), "Content-Type": content_type}
                    response = client.request(method, url, content=body, headers=headers)
                    _check(response, tally, f"{method} {path} {name}", store)
                    optional = not spec["requestBody"].get("required", False)
                    if not (optional and name in {"empty", "null"}):
                        assert response.status_code >= 400, (method, path, name, response.text)
                    if name == "10 MB":
                        assert response.status_code == 413
            for parameter in spec.get("parameters", []):
                where, name = parameter["in"], parameter["name"]
                for value in METACHARACTERS + NUMBERS:
                    if where == "path":
                        target = path.replace("{" + name + "}", value.replace("/", "%2F"))
                        response = client.request(method, _fill(target, world),
                                                  headers=auth(world.admin))  # fmt: skip
                    elif where == "query":
                        response = client.request(method, url, params={name: value},
                                                  headers=auth(world.admin))  # fmt: skip
                    else:
                        continue
                    _check(response, tally, f"{method} {path} {where}:{name}={value!r}", store)
            # Nasty headers on reads (a command without its body is refused before them).
            for headers in HEADERS if method == "GET" else []:
                merged = {**auth(world.admin), **headers}
                response = client.request(method, url, headers=merged)
                _check(response, tally, f"{method} {path} {headers}", store)
    print(f"nasties: {sum(tally.values())} requests, statuses {dict(sorted(tally.items()))}")
    assert sum(tally.values()) >= 1000
    store.conn.close()
