"""The back office in a real browser: Playwright driving Debian's chromium against the
ledger as production runs it (two `ledger serve` processes, the projectors, one database, one
Redis). Skipped, saying why, where no chromium or no playwright can be had; .ci/run installs
chromium and fails on any skip. Screenshots of every page are kept in SCREENSHOTS."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_steps import create_admin
from tests.processes import redis_database, wait_for_projection
from tests.servers import LedgerStack, StartStack

SCREENSHOTS = Path(__file__).resolve().parents[2] / ".ledger" / "screenshots"


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip(
            "no chromium on PATH: the back office's browser tests drive Debian's chromium "
            "(apt-get install chromium; .ci/run installs it)"
        )
    return path


# Package scope: playwright's sync API runs an event loop while it is open, and asyncio.run()
# refuses to start under one, so it must be closed before the next package's tests.
@pytest.fixture(scope="package")
def browser(chromium: str) -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="the playwright package is not installed (make test installs it)",
    )
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="package")
def console_stack(start_stack: StartStack, redis_server_url: str) -> Iterator[LedgerStack]:
    with start_stack("browser", redis_database(redis_server_url)) as running:
        yield running


@pytest.fixture(scope="package")
def admin_email(console_stack: LedgerStack) -> str:
    email, position = create_admin(console_stack.database_url)
    wait_for_projection(console_stack.database_url, "users", position)
    return email


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
