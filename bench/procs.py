"""Child processes the benchmarks start (API server, projector) and their memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def python(
    *args: str, env: dict[str, str] | None = None, quiet: bool = True
) -> subprocess.Popen[str]:
    """Starts `python <args>` from the repository root with `env` added to ours."""
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else subprocess.PIPE,
        text=True,
    )


def ledger_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return python("-c", "from ledger_cli.main import main; main()", *args, env=env)


def run_json(*args: str) -> dict[str, object]:
    """Runs `python <args>` to completion and parses the JSON on its last output line."""
    out = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) so far, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def stop(process: subprocess.Popen[str], timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it does not stop in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")
