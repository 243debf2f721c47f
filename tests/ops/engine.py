"""A Docker engine for the tests that run the image for real: the CLI, a daemon that answers,
the Dockerfile's base image (pulled, or the stand-in ops/scripts/docker-base makes from
Debian's packages), and `docker build` of ops/Dockerfile on it.

Containers get host networking only (the daemon may run with --bridge=none, as .ci/run
starts it), so builds and containers reach PostgreSQL, Redis and the package index as this
machine does. `find_engine` skips the test, with its reason, where no engine can be had."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.ops.conftest import REPO

DOCKERFILE = REPO / "ops" / "Dockerfile"
STAND_IN_BASE = "ledger-python-base:bookworm"
START_ENGINE = "dockerd --bridge=none --iptables=false &"
_TITLE_LABEL = "org.opencontainers.image.title=ledger"  # ops/Dockerfile's runtime stage


def dockerfile_base() -> str:
    """The base image ops/Dockerfile names by default (its PYTHON_IMAGE argument)."""
    found = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert found is not None, "ops/Dockerfile declares no default PYTHON_IMAGE"
    return found.group(1)


@dataclass
class Engine:
    """The docker CLI of a daemon that answers."""

    cli: str

    def docker(
        self, *args: str, stdin: str | None = None, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(  # noqa: S603 - the docker CLI, arguments of ours
            [self.cli, *args], input=stdin, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {result.stderr or result.stdout}")
        return result

    def has_image(self, name: str) -> bool:
        return self.docker("image", "inspect", name, check=False).returncode == 0

    def inspect(self, name: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = json.loads(self.docker("inspect", name).stdout)
        return found[0]

    def base_image(self) -> str:
        """The Dockerfile's own base where this engine has it, else the stand-in (made by
        ops/scripts/docker-base once); skips when neither can be had."""
        if self.has_image(dockerfile_base()):
            return dockerfile_base()
        if not self.has_image(STAND_IN_BASE):
            if shutil.which("debootstrap") is None:
                pytest.skip(
                    f"no base image: neither {dockerfile_base()} nor {STAND_IN_BASE} is present "
                    "and debootstrap (apt-get install debootstrap), which ops/scripts/docker-base "
                    "needs to make the stand-in, is not installed"
                )
            made = subprocess.run(  # noqa: S603 - the repository's own script
                [str(REPO / "ops" / "scripts" / "docker-base"), STAND_IN_BASE],
                capture_output=True, text=True, timeout=900, check=False,
            )  # fmt: skip
            assert made.returncode == 0, made.stdout + made.stderr
        return STAND_IN_BASE

    def build(self, tag: str, base: str) -> float:
        """Builds ops/Dockerfile on `base` as `tag`; returns the seconds it took. The classic
        builder, on the host network: a daemon without a bridge has no other network to give."""
        started = time.monotonic()
        result = subprocess.run(  # noqa: S603 - the docker CLI, arguments of ours
            [self.cli, "build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={base}",
             "--file", str(DOCKERFILE), "--tag", tag, str(REPO)],
            env={**os.environ, "DOCKER_BUILDKIT": "0"}, capture_output=True, text=True,
            timeout=1200, check=False,
        )  # fmt: skip
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        seconds = time.monotonic() - started
        # The image `tag` named before, untagged now: each is a few hundred MB that nothing
        # uses (the builder stage's layers, the cache, carry no label and stay).
        self.docker("image", "prune", "--force", "--filter", f"label={_TITLE_LABEL}")
        return seconds


def find_engine() -> Engine:
    """The engine, or a skip that says what is missing and how to get it."""
    cli = shutil.which("docker")
    if cli is None:
        pytest.skip("no docker CLI (apt-get install docker.io)")
    engine = Engine(cli)
    try:
        info = engine.docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip(f"the Docker daemon did not answer within 20 s (start it: {START_ENGINE})")
    if info.returncode != 0:
        reason = info.stderr.strip().splitlines()[-1] if info.stderr.strip() else "no answer"
        pytest.skip(f"the Docker daemon does not answer: {reason} (start it: {START_ENGINE})")
    return engine


@dataclass
class Containers:
    """Containers a test starts, each named after the test run, all removed at the end."""

    engine: Engine
    prefix: str = field(default_factory=lambda: f"ledger-test-{uuid.uuid4().hex[:8]}")
    names: list[str] = field(default_factory=list)

    def name(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def run(
        self,
        role: str,
        flags: Sequence[str],
        image: str,
        command: Sequence[str],
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Runs a one-shot container to its end (removed afterwards); returns its result."""
        name = self.name(role)
        self.names.append(name)
        interactive = ["--interactive"] if stdin is not None else []
        return self.engine.docker(
            "run", "--rm", "--name", name, *interactive, *flags, image, *command, stdin=stdin,
            check=False,
        )  # fmt: skip

    def start(self, role: str, flags: Sequence[str], image: str, command: Sequence[str]) -> str:
        """Starts a long-running container in the background; returns its name."""
        name = self.name(role)
        self.names.append(name)
        self.engine.docker("run", "--detach", "--name", name, *flags, image, *command)
        return name

    def logs(self) -> str:
        """The last lines of every container still there, for a failure's message."""
        parts = []
        for name in self.names:
            result = self.engine.docker("logs", "--tail", "30", name, check=False)
            if result.returncode == 0:
                parts.append(f"--- {name}\n{result.stdout}{result.stderr}")
        return "\n".join(parts)

    def remove(self) -> None:
        if self.names:
            self.engine.docker("rm", "--force", "--volumes", *self.names, check=False)

    @contextlib.contextmanager
    def removed_at_end(self) -> Iterator[Containers]:
        try:
            yield self
        except BaseException as error:
            error.add_note(self.logs())
            raise
        finally:
            self.remove()
