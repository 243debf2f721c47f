"""The API clients a newcomer imports (spec, "API clients"): docs/openapi.json is the app's
document today, docs/postman_collection.json is what the pinned openapi-to-postmanv2 makes of
it today, and the collection's requests answer as documented against a live ledger (newman,
through ops/api-clients/scenario.js). Regenerate both files with `ops/scripts/api-clients`.

The collection's tests need node and npm (the npm tools are pinned in
ops/api-clients/package-lock.json and installed there on first use); they skip saying so where
node is missing, and `.ci/run` installs it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api_steps import create_admin
from tests.data import PASSWORD
from tests.ops.conftest import REPO
from tests.processes import redis_database, wait_for_projection
from tests.servers import StartStack

SCRIPT = REPO / "ops" / "scripts" / "api-clients"
DOCS = REPO / "docs"
REGENERATE = "run ops/scripts/api-clients and commit the result"


def _require_node() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not installed (apt-get install nodejs npm): they run "
            "the pinned openapi-to-postmanv2 and newman of ops/api-clients"
        )


def _api_clients(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the repository's own script, fixed arguments
        [str(SCRIPT), *args],
        env={**os.environ, "PYTHON": sys.executable, **env},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_openapi_json_is_the_apps_document() -> None:
    made = subprocess.run(  # noqa: S603 - this interpreter and the repository's script
        [sys.executable, str(REPO / "ops" / "api-clients" / "openapi.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert made == (DOCS / "openapi.json").read_text(), f"docs/openapi.json drifted: {REGENERATE}"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both files as ops/scripts/api-clients makes them from the code today."""
    _require_node()
    folder = tmp_path_factory.mktemp("api-clients")
    result = _api_clients(str(folder))
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


def test_the_script_writes_the_apps_document(generated: Path) -> None:
    assert (generated / "openapi.json").read_text() == (DOCS / "openapi.json").read_text()


def test_postman_collection_is_generated_from_the_document(generated: Path) -> None:
    made = (generated / "postman_collection.json").read_text()
    committed = (DOCS / "postman_collection.json").read_text()
    assert made == committed, f"docs/postman_collection.json drifted: {REGENERATE}"


def test_the_collection_runs_green_against_a_live_ledger(
    start_stack: StartStack, redis_server_url: str
) -> None:
    _require_node()
    with start_stack("api-clients", redis_database(redis_server_url)) as stack:
        email, position = create_admin(stack.database_url)
        wait_for_projection(stack.database_url, "users", position)
        result = _api_clients(
            "run", stack.base_url, LEDGER_ADMIN_EMAIL=email, LEDGER_ADMIN_PASSWORD=PASSWORD
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # scenario.js refuses to run unless its steps cover every request of the collection.
    summary = re.search(r"scenario: (\d+) requests, (\d+) failures", output)
    assert summary is not None, output
    assert summary.group(2) == "0", output
    assert int(summary.group(1)) >= 29, output
