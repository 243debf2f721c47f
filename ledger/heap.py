"""The garbage collector's pace in a long-running process (an API worker, the projectors).

CPython's defaults (a young collection every 700 allocations, a full one whenever a quarter
more objects have survived into the old generation) suit short scripts. A busy API worker
holds hundreds of requests' objects in flight: at 1,000 users they survived the young
collections, filled the old generation and set off a full collection every 4 to 8 s, each
130 to 220 ms of one worker's event loop stopped (measured with gc.callbacks under
`make load`), which was the load test's tail. Collecting young objects every 50,000
allocations lets in-flight objects die young, and freezing what startup built (modules,
routes, settings) keeps it out of every later full collection."""

from __future__ import annotations

import gc

YOUNG_ALLOCATIONS = 50_000  # allocations less deallocations between young collections
MIDDLE_EVERY = 20  # young collections per middle one
OLD_EVERY = 20  # middle collections per full one (CPython also waits for 25 % growth)


def settle_after_startup() -> None:
    """Collects once, freezes what survives (it lives as long as the process) and sets the
    server pace. Call it when the process has finished starting."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_ALLOCATIONS, MIDDLE_EVERY, OLD_EVERY)
