"""Fixtures for the observability tier: the API in process (TestClient runs its lifespan) with
settings of the test's choosing, an admin signed in through it, and every log line the process
writes, rendered as JSON by the real logging setup and parsed back."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient

import projections
from api.app import create_app
from ledger.logs import configure_logging
from ledger.settings import Settings
from tests import data
from tests.api_steps import create_admin
from tests.data import PASSWORD, auth, make_settings

MakeClient = Callable[..., TestClient]


def api_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings of the in-process API: no per-address rate limit, short consistency waits."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "rate_limit_auth_per_address": "off",
        "ledger_consistency_timeout": 0.2,
        **overrides,
    }
    return make_settings(**values)


@pytest.fixture
def make_client(database_url: str) -> Iterator[MakeClient]:
    """Starts the API in process with extra settings; every client is closed afterwards."""
    opened: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(
            create_app(api_settings(database_url, **overrides)), raise_server_exceptions=False
        )
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        client.__exit__(None, None, None)


def admin_headers(client: TestClient, database_url: str) -> dict[str, str]:
    """An admin made as `ledger users create-admin` makes one, signed in through `client`."""
    email, _ = create_admin(database_url)
    projections.catch_up(database_url, ["users"])
    login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return auth(login.json()["data"]["access_token"])


def product_body(**overrides: Any) -> dict[str, Any]:
    """A product as the API takes it, tagged as this tier's."""
    return data.product_body(
        **{"price": "12.50", "tags": ["observability"], "stock": 50, **overrides}
    )


class LogLines:
    """What the process logged since the fixture started (or since `clear`), one dict a line."""

    def __init__(self, buffer: io.StringIO) -> None:
        self._buffer = buffer

    def clear(self) -> None:
        self._buffer.seek(0)
        self._buffer.truncate()

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._buffer.getvalue().splitlines() if line]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.all() if line.get("event") == event]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """The real logging setup (`configure_logging("json")`) with its handler writing into a
    buffer; the previous handlers and structlog configuration come back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    configure_logging("json", "INFO")
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield LogLines(buffer)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)
