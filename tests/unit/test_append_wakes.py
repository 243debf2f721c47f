"""Which projector workers an append notification wakes at once, and when the others step."""

from __future__ import annotations

import threading
import time

import pytest

from ledger import appends, contract
from projections.registry import PROJECTIONS
from projections.worker import (
    FULL_GATHER_EVENTS_PER_SECOND,
    FULL_STEP_AGGREGATES,
    GATHER_SECONDS,
    PACE_WINDOW_SECONDS,
    PASS_OVER_SECONDS,
    _Pace,
    _Wake,
)


def test_a_payload_names_the_aggregates_it_moved() -> None:
    payload = appends.encode([("prod_pen", 3), ("ord_1", 1), ("email:abc", 1)])
    assert appends.aggregates_moved(payload) == {
        contract.PRODUCT: 1,
        contract.ORDER: 1,
        contract.EMAIL_CLAIM: 1,
    }


def test_a_payload_that_cannot_name_every_aggregate_names_none() -> None:
    cut = appends.encode([(f"prod_{'x' * 60}{n:04d}", 1) for n in range(300)] + [("usr_1", 1)])
    assert appends.CUT_SHORT not in appends.decode(cut)  # the API reads ids only
    for payload in (cut, "", "not json", "[1]", appends.encode([("mystery", 1)]), None):
        assert appends.aggregates_moved(payload) is None, payload


def test_each_projection_reads_the_aggregates_of_its_events() -> None:
    assert PROJECTIONS["users"]().aggregates == {contract.USER}
    assert PROJECTIONS["orders"]().aggregates == {contract.ORDER, contract.USER}
    assert PROJECTIONS["products"]().aggregates == {contract.PRODUCT}


def _waits(wake: _Wake, timeout: float, not_before: float = 0.0) -> float:
    started = time.monotonic()
    wake.wait(timeout, not_before)
    return time.monotonic() - started


def test_an_append_it_reads_wakes_a_worker_at_once() -> None:
    wake = _Wake(frozenset({contract.PRODUCT}))
    threading.Timer(0.05, wake.set, ({contract.PRODUCT: 1, contract.ORDER: 1},)).start()
    assert _waits(wake, 5) < 1


def test_an_append_it_does_not_read_wakes_it_a_little_later() -> None:
    wake = _Wake(frozenset({contract.USER}))
    threading.Timer(0.05, wake.set, ({contract.ORDER: 1},)).start()
    waited = _waits(wake, 5)
    assert 0.05 + PASS_OVER_SECONDS * 0.9 < waited < 1
    # Later appends it does not read do not put the step off.
    wake.set({contract.ORDER: 1})
    time.sleep(PASS_OVER_SECONDS / 2)
    wake.set({contract.ORDER: 1})
    assert _waits(wake, 5) < PASS_OVER_SECONDS * 0.9


def test_a_notification_it_cannot_read_wakes_every_worker_at_once() -> None:
    wake = _Wake(frozenset({contract.USER}))
    wake.set(None)
    assert _waits(wake, 5) < 0.05
    assert _waits(wake, 0.2) >= 0.19  # cleared by the wait: nothing new since


def test_a_busy_worker_gathers_the_appends_until_its_next_step_is_due() -> None:
    wake = _Wake(frozenset({contract.ORDER}))
    wake.set({contract.ORDER: 1})
    not_before = time.monotonic() + GATHER_SECONDS
    assert _waits(wake, 5, not_before) >= GATHER_SECONDS * 0.9
    # Idle (the last step applied nothing, so no `not_before`): at once.
    wake.set({contract.ORDER: 1})
    assert _waits(wake, 5, 0) < GATHER_SECONDS / 2
    # Nothing at all: the poll interval, whatever `not_before` says.
    assert 0.19 <= _waits(wake, 0.2, time.monotonic() + 5) < 1


def test_the_gather_grows_with_the_events_read_in_the_last_second() -> None:
    pace = _Pace()
    # A lone client: one order's three events.
    assert pace.gather(100.0, 3) == pytest.approx(
        GATHER_SECONDS * 3 / FULL_GATHER_EVENTS_PER_SECOND
    )
    # Sustained load: a second's steps bring the full rate, and more stays at the full gather.
    steps = 10
    for n in range(1, steps + 1):
        gather = pace.gather(100.0 + n * 0.1, FULL_GATHER_EVENTS_PER_SECOND // steps)
    assert gather == pytest.approx(GATHER_SECONDS)
    assert pace.gather(101.05, FULL_GATHER_EVENTS_PER_SECOND) == GATHER_SECONDS
    # Quiet again: the steps older than the window no longer count.
    later = 101.05 + PACE_WINDOW_SECONDS + 0.01
    assert pace.gather(later, 0) == 0.0


def test_a_step_is_due_at_once_when_enough_of_its_aggregates_moved() -> None:
    wake = _Wake(frozenset({contract.ORDER}))
    not_before = time.monotonic() + 5
    wake.set({contract.ORDER: FULL_STEP_AGGREGATES - 1, contract.PRODUCT: 5})
    assert _waits(wake, 0.2, not_before) >= 0.19  # gathering: fewer than enough of its own
    for _ in range(FULL_STEP_AGGREGATES - 1):
        wake.set({contract.ORDER: 1})
    wake.set({contract.ORDER: 1, contract.PRODUCT: 1})
    assert _waits(wake, 5, not_before) < 1
    # Counted afresh after each step.
    wake.set({contract.ORDER: 1})
    assert _waits(wake, 0.2, time.monotonic() + 5) >= 0.19
