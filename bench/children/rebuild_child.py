"""`python -m bench.children.rebuild_child URL NAME...`: rebuilds projections in a process of its
own, so its peak RSS (printed as JSON with each rebuild's figures) is the rebuild's alone."""

from __future__ import annotations

import json
import resource
import sys

from projections.rebuild import rebuild
from projections.registry import resolve


def main(argv: list[str]) -> None:
    url, *names = argv
    figures = {}
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
