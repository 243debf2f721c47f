"""`python -m bench.children.rebuild_child [--old-shapes] URL NAME...`: rebuilds projections in a
process of its own, so its peak RSS (printed as JSON with each rebuild's figures) is the
rebuild's alone. With --old-shapes the bench's upcasters (bench.old_shapes) are registered for
the rebuilds: they must be where the events are read, and this is that process."""

from __future__ import annotations

import json
import resource
import sys
from contextlib import nullcontext

from bench import old_shapes
from bench.database import bench_settings
from ledger import personal, upcasting
from projections.rebuild import rebuild
from projections.registry import resolve

OLD_SHAPES_FLAG = "--old-shapes"


def main(argv: list[str]) -> None:
    url, *names = [arg for arg in argv if arg != OLD_SHAPES_FLAG]
    # The bench's master key: the rebuilds open the personal fields its ledger sealed.
    personal.configure(bench_settings().secret_key)
    upcasters = old_shapes.upcasters() if OLD_SHAPES_FLAG in argv else ()
    figures = {}
    with upcasting.registered(*upcasters) if upcasters else nullcontext():
        for projection in resolve(names):
            result = rebuild(url, projection)
            figures[projection.name] = {
                "events": result.events,
                "seconds": result.seconds,
                "events_per_second": result.events_per_second,
                "parked": result.parked,
            }
    # ru_maxrss is in kilobytes on Linux.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rebuilds": figures, "peak_rss_mb": peak_mb}))


if __name__ == "__main__":
    main(sys.argv[1:])
