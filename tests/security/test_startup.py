"""Production refuses to start without what keeps it safe: a signing key of at least 32 bytes
and Redis (shared rate limits). `ledger serve` exits 1 with one line that says why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import cli_env


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"LEDGER_SECRET_KEY": None}, "LEDGER_SECRET_KEY"),
        ({"LEDGER_SECRET_KEY": "short-key"}, "LEDGER_SECRET_KEY"),
        ({"REDIS_URL": None}, "REDIS_URL"),
    ],
)
def test_production_start_up_refuses_unsafe_settings(
    tmp_path: Path, changes: dict[str, str | None], named: str
) -> None:
    env = cli_env("postgresql://root@127.0.0.1:1/none", tmp_path)
    env.update(LEDGER_ENV="production", REDIS_URL="redis://127.0.0.1:1/0")
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    result = subprocess.run(
        [sys.executable, "-m", "ledger_cli.main", "serve", "--port", "1"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    output = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1, output
    assert len(output) == 1, output
    assert named in output[0]
    assert "Traceback" not in output[0]
