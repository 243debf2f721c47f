"""The server processes' garbage-collector pace (ledger.heap)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ledger import heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_settling_freezes_what_startup_built_and_slows_the_young_collections() -> None:
    heap.settle_after_startup()

    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (heap.YOUNG_ALLOCATIONS, heap.MIDDLE_EVERY, heap.OLD_EVERY)
