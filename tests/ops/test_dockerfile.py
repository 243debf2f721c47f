"""ops/Dockerfile: hadolint finds nothing, and the image keeps its promises: multi-stage,
pinned base, locked dependencies, non-root, a health check that needs no curl, and a
build context (.dockerignore) that carries everything it copies and no secret."""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess

from tests.ops.conftest import REPO, find_tool

DOCKERFILE = REPO / "ops" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in logical.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def _args(keyword: str, stage: list[tuple[str, str]] | None = None) -> list[str]:
    return [rest for kw, rest in (stage or _instructions()) if kw == keyword]


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [find_tool("hadolint"), "--failure-threshold", "info", "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_is_multi_stage_on_a_pinned_slim_python() -> None:
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert base is not None
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim-bookworm", base.group(1))
    stages = _args("FROM")
    assert stages == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]


def test_installs_exactly_the_locked_runtime_dependencies() -> None:
    syncs = [run for run in _args("RUN") if "uv sync" in run]
    assert syncs
    for command in syncs:
        assert "--frozen" in command
        assert "--no-dev" in command
    assert any("uv==" in run for run in _args("RUN")), "uv itself must be pinned"


def test_runtime_carries_the_venv_but_not_uv() -> None:
    final = _final_stage()
    assert _args("COPY", final) == ["--from=builder /app /app"]
    assert not any("uv" in run.split() or "pip install" in run for run in _args("RUN", final))
    assert any('PATH="/app/.venv/bin:' in env for env in _args("ENV", final))


def test_runs_as_a_non_root_user() -> None:
    users = _args("USER", _final_stage())
    assert len(users) == 1
    # Numeric ids, so a runtime that enforces non-root can check them without /etc/passwd.
    uid, _, gid = users[0].partition(":")
    assert re.fullmatch(r"[1-9]\d*", uid)
    assert re.fullmatch(r"[1-9]\d*", gid)


def test_health_check_asks_health_with_python() -> None:
    (check,) = _args("HEALTHCHECK", _final_stage())
    assert '["python", "-c",' in check
    assert "http://127.0.0.1:8000/health" in check
    assert "curl" not in check


def test_serves_the_api_on_port_8000_by_default() -> None:
    final = _final_stage()
    assert _args("EXPOSE", final) == ["8000"]
    assert _args("CMD", final) == ['["ledger", "serve", "--host", "0.0.0.0", "--port", "8000"]']


def test_carries_oci_labels() -> None:
    labels = " ".join(_args("LABEL", _final_stage()))
    for key in ("title", "description", "version", "revision", "base.name"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_never_adds_remote_files() -> None:
    assert _args("ADD") == []


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore drops a top-level path (its patterns here are all literal
    names or `**/` globs, so fnmatch reads them as Docker does)."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").removeprefix("**/")
        if fnmatch.fnmatch(path, glob):
            ignored = not negated
    return ignored


def test_build_context_has_what_the_image_copies_and_no_secrets() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [
        source
        for copy in _args("COPY")
        if not copy.startswith("--from=")
        for source in shlex.split(copy)[:-1]
    ]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert not _ignored(source, patterns), f"{source} is excluded by .dockerignore"
    for secret in (".env", ".env.production", ".ledger", ".git", ".venv"):
        assert _ignored(secret, patterns), f"{secret} must stay out of the build context"
