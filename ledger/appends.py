"""The store's append notifications: what each one says, and one process's listener for them.

Every append notifies `EVENTS_CHANNEL` (ledger.eventstore) with the aggregates it moved and
the version each reached, as a JSON object (`encode`). A projector learns which kinds of
aggregate moved, to step at once only for the events it reads (projections.worker); an API
process learns which of its cached aggregates another process has moved on, so its next
command on them reads their new events first instead of deciding on a stale copy and losing
the append (ledger.library). The list is a hint, never a guarantee: it may be cut short to
fit a notification (it then says so), and notifications are missed while the listener
reconnects; a projector still reads from its position, and a stale decision is still
caught by its append conflicting."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import psycopg

from ledger.contract import EVENTS_CHANNEL, aggregate_of
from ledger.logs import get_logger

# PostgreSQL refuses payloads of 8,000 bytes or more; the JSON is ASCII (ensure_ascii).
MAX_PAYLOAD_BYTES = 7_900
# The key ending a payload cut short to fit (no aggregate id is empty).
CUT_SHORT = ""
_CUT_SHORT_BYTES = len(json.dumps({CUT_SHORT: 0})) + 2
RECONNECT_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 5.0
log = get_logger("ledger.appends")

Heard = Callable[[str | None], None]


def encode(versions: Iterable[tuple[str, int]]) -> str:
    """The payload of an append of these (aggregate id, version) pairs: each aggregate's
    highest version, as many as fit in a notification, ending with CUT_SHORT when some did
    not."""
    latest: dict[str, int] = {}
    for aggregate_id, version in versions:
        latest[aggregate_id] = max(version, latest.get(aggregate_id, version))
    kept: dict[str, int] = {}
    size = 2 + _CUT_SHORT_BYTES  # the braces, and room to say the list is cut short
    for aggregate_id, version in latest.items():
        size += len(json.dumps(aggregate_id)) + len(str(version)) + 4  # ': ' and ', '
        if size > MAX_PAYLOAD_BYTES:
            kept[CUT_SHORT] = 0
            break
        kept[aggregate_id] = version
    return json.dumps(kept)


def decode(payload: str) -> Mapping[str, int]:
    """The versions an append's payload names; nothing for one it cannot read (an older
    release's empty payload among them)."""
    versions = _read(payload)
    return {k: v for k, v in versions.items() if k != CUT_SHORT} if versions else {}


def aggregates_moved(payload: str | None) -> Counter[str] | None:
    """How many aggregates of each topic an append moved (ledger.contract.aggregate_of); None
    when the payload cannot say them all: unreadable, empty, cut short, or naming an id of no
    known kind. A projector wakes at once for an append of the aggregates it reads."""
    versions = _read(payload) if payload else None
    if not versions or CUT_SHORT in versions:
        return None
    topics = [aggregate_of(aggregate_id) for aggregate_id in versions]
    return None if None in topics else Counter(t for t in topics if t is not None)


def _read(payload: str) -> dict[str, int]:
    try:
        versions = json.loads(payload) if payload else {}
    except ValueError:
        return {}
    if not isinstance(versions, dict):
        return {}
    return {str(k): v for k, v in versions.items() if isinstance(v, int)}


class AppendListener:
    """One LISTEN connection on `EVENTS_CHANNEL`, in a thread of its own, calling `heard`
    with each notification's payload, and with None once (re)connected (appends may have gone
    unheard meanwhile). Reconnects by itself until `stop` is set."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        stop: threading.Event,
        heard: Heard,
    ) -> None:
        self._connect = connect
        self._stop = stop
        self._heard = heard
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Starts the listening thread, unless it is running."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="append-listener", daemon=True
                )
                self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = RECONNECT_SECONDS
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    conn.autocommit = True
                    conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    backoff = RECONNECT_SECONDS
                    self._heard(None)
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=0.5):
                            self._heard(notify.payload)
            except psycopg.OperationalError as exc:
                log.warning("append listener lost the database", error=str(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception:  # never die silently: the listeners' owners would not know
                log.exception("append listener failed")
                self._stop.wait(MAX_BACKOFF_SECONDS)
