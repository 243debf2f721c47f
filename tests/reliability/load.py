"""A steady write load for the fault tests: one thread placing orders over HTTP, recording every
answer, and every acknowledged order with its store position."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.data import auth, order_body
from tests.servers import LedgerStack

# Long enough that a hang shows as a slow answer, not as a client timeout.
CLIENT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Answer:
    status: int
    seconds: float
    at: float
    code: str | None


@dataclass
class OrderLoad:
    """Places one order at a time until stopped; `acknowledged` maps order id to position."""

    stack: LedgerStack
    token: str
    product_id: str
    pause: float = 0.02
    answers: list[Answer] = field(default_factory=list)
    acknowledged: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> OrderLoad:
        self._thread = threading.Thread(target=self._run, name="order-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=CLIENT_TIMEOUT + 5)

    def _run(self) -> None:
        # Prefer: respond-async: the command is acknowledged once stored, without waiting for
        # the projections, so the load keeps its pace while projectors are being killed.
        headers = {**auth(self.token), "Prefer": "respond-async"}
        body = order_body(self.product_id)
        with self.stack.client(timeout=CLIENT_TIMEOUT) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = client.post("/orders", json=body, headers=headers)
                except httpx.HTTPError as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    time.sleep(self.pause)
                    continue
                elapsed = time.monotonic() - started
                payload = response.json()
                code = None if payload.get("success") else payload["error"]["code"]
                self.answers.append(Answer(response.status_code, elapsed, started, code))
                if response.status_code in {201, 202}:
                    position = int(response.headers["X-Ledger-Position"])
                    self.acknowledged[payload["data"]["id"]] = position
                time.sleep(self.pause)

    def statuses(self, since: float = 0.0) -> Counter[int]:
        return Counter(a.status for a in self.answers if a.at >= since)

    def acknowledged_since(self, since: float) -> int:
        return sum(1 for a in self.answers if a.at >= since and a.status in {201, 202})
