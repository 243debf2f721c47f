"""The Redis server `ledger dev` runs under the data folder: one per folder whatever the number
of `ledger dev` using it, shut down by the last to leave, and neither a stale socket nor a user
that died without leaving stops the next start."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ledger_cli.embedded_redis import EmbeddedRedisError, embedded_redis
from tests.processes import wait_until

# Another `ledger dev`, as far as the server is concerned: holds it until its stdin closes.
OTHER_USER = """
import sys
from pathlib import Path
from ledger_cli.embedded_redis import embedded_redis
with embedded_redis(Path(sys.argv[1])) as server:
    print("started" if server.started else "attached", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "redis"
    yield folder
    pidfile = folder / "redis.pid"
    assert not pidfile.exists(), "a redis-server outlived the test"


def _other_user(folder: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, "-c", OTHER_USER, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],  # the checkout: `ledger_cli` is importable
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def _leave(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    assert process.wait(timeout=30) == 0


def _answers(folder: Path) -> bool:
    # No retries: redis-py's default backoff would take seconds to say nobody listens.
    client = redis.Redis(unix_socket_path=str(folder / "redis.sock"), retry=Retry(NoBackoff(), 0))
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


def test_a_stale_socket_and_pid_file_give_way_to_a_new_server(folder: Path) -> None:
    folder.mkdir()
    with socket.socket(socket.AF_UNIX) as listener:  # bound, then closed: nobody listens
        listener.bind(str(folder / "redis.sock"))
    (folder / "redis.pid").write_text("999999\n")
    (folder / "users").write_text("999999\n")
    with embedded_redis(folder) as server:
        assert server.started
        assert server.url == f"unix://{folder.resolve() / 'redis.sock'}"
        client = redis.Redis.from_url(server.url)
        client.set("key", "value")
        assert client.get("key") == b"value"
    assert not _answers(folder)
    assert not (folder / "redis.sock").exists()


def test_the_last_user_shuts_it_down_whoever_started_it(folder: Path) -> None:
    other, how = _other_user(folder)
    assert how == "started"
    with embedded_redis(folder) as server:
        assert not server.started
        _leave(other)  # the one that started it: the server stays for us
        assert _answers(folder)
    assert not _answers(folder)

    with embedded_redis(folder) as server:
        assert server.started
        other, how = _other_user(folder)
        assert how == "attached"
    assert _answers(folder), "the server stopped while another user had it"
    _leave(other)
    assert not _answers(folder)


def test_a_user_killed_without_leaving_does_not_keep_it_forever(folder: Path) -> None:
    other, _ = _other_user(folder)
    other.send_signal(signal.SIGKILL)
    other.wait()
    # The server has a session of its own: it outlives its user, and is reused.
    assert _answers(folder)
    with embedded_redis(folder) as server:
        assert not server.started
    wait_until(lambda: not _answers(folder), 10, "the server to stop")


def test_a_socket_path_too_long_is_a_clear_error(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    with pytest.raises(EmbeddedRedisError, match="LEDGER_DATA_DIR"), embedded_redis(deep):
        pass
