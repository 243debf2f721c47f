"""CPU time that server processes spend, read from /proc: utime + stime of every process in a
tree (a uvicorn master and its workers, a projector) and of the PostgreSQL backends serving one
database, sampled before and after a measured window."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg

_TICKS = os.sysconf("SC_CLK_TCK")
# Which processes make up a component, asked again at each sample: backends and workers may
# come and go during the window.
Finder = Callable[[], list[int]]


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants that are alive now."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        if not Path(f"/proc/{current}").exists():
            continue
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in task.read_text().split())
            except OSError:
                continue
    return found


def backends(url: str) -> list[int]:
    """Server processes connected to `url`'s database (clients' backends and autovacuum on it),
    this query's own backend aside; empty when the server runs on another machine."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [pid for (pid,) in rows if Path(f"/proc/{pid}").exists()]


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU of the process (all its threads) so far; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: the fields that follow start after its ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


Sample = dict[str, dict[int, float]]


def sample(components: Mapping[str, Finder]) -> Sample:
    taken: Sample = {}
    for name, find in components.items():
        seconds = {pid: cpu_seconds(pid) for pid in find()}
        taken[name] = {pid: s for pid, s in seconds.items() if s is not None}
    return taken


@dataclass(frozen=True)
class Spent:
    """CPU seconds each component spent between two samples, and how many of its processes
    were seen (a process that ended inside the window is lost: `ended` counts them)."""

    seconds: dict[str, float]
    processes: dict[str, int]
    ended: dict[str, int]


def spent(before: Sample, after: Sample) -> Spent:
    """A process first seen in `after` started inside the window: all its CPU counts."""
    seconds, processes, ended = {}, {}, {}
    for name, now in after.items():
        then = before.get(name, {})
        seconds[name] = sum(s - then.get(pid, 0.0) for pid, s in now.items())
        processes[name] = len(now)
        ended[name] = len(set(then) - set(now))
    return Spent(seconds, processes, ended)
