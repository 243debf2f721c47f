"""A projector whose append LISTEN connection is dropped (tests.faultproxy) still applies the
next append at once: its listener reconnects and wakes every worker, since appends may have
gone unheard meanwhile, rather than leaving them to the poll."""

from __future__ import annotations

import threading
import time

from ledger.application import Ledger
from projections.products import ProductsProjection
from projections.worker import Appends, Worker
from tests.faultproxy import FaultProxy
from tests.processes import wait_until
from tests.projector_process import caught_up, create_product

# Far longer than any wait below: only a wake-up can make the worker step in time.
POLL_SECONDS = 60.0


def test_a_dropped_listen_connection_still_wakes_the_projector_for_the_next_append(
    ledger: Ledger, database_url: str
) -> None:
    stop = threading.Event()
    with FaultProxy(database_url) as proxy:
        # Only the listener goes through the proxy; the steps and the lease do not.
        appends = Appends(proxy.url, stop)
        worker = Worker(
            database_url, ProductsProjection(), stop, poll_seconds=POLL_SECONDS, appends=appends
        )
        thread = threading.Thread(target=worker.run, name="projector-products")
        thread.start()
        try:
            assert worker.leading.wait(10)
            create_product(ledger, "prod_first")
            wait_until(caught_up(database_url, ["products"]), 10, "the first product")
            proxy.reset_all()
            # Its notification may well be lost with the connection.
            create_product(ledger, "prod_second")
            started = time.monotonic()
            wait_until(caught_up(database_url, ["products"]), 15, "the second product")
            assert time.monotonic() - started < POLL_SECONDS / 4
        finally:
            stop.set()
            thread.join(10)
