"""`python -m bench.report [results.json] [--png]`: the results as a Markdown table (for
docs/benchmarks.md), straight from the JSON a run wrote; --png redraws its chart."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.config import ROOT
from bench.results import chart


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{text} {unit}"


def markdown(payload: dict[str, Any]) -> str:
    lines = [
        "| section | row | value | baseline | baseline value | ratio | target | met |",
        "|---|---|---:|---|---:|---:|---|---|",
    ]
    for row in payload["rows"]:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        lines.append(
            f"| {row['section']} | {row['name']} | {_fmt(row['value'], row['unit'])} | "
            f"{row['baseline']} | {_fmt(row['baseline_value'], row['unit'])} | {ratio} | "
            f"{row['target'] or ''} | {met} |"
        )
    notes = [f"- {note}" for note in payload.get("notes", [])]
    return "\n".join(lines + (["", *notes] if notes else []))


def main() -> None:
    """Prints the table; with --png also redraws the chart next to the JSON."""
    args = [a for a in sys.argv[1:] if a != "--png"]
    path = Path(args[0]) if args else ROOT / "results.json"
    payload = json.loads(path.read_text())
    if "--png" in sys.argv:
        chart(payload["rows"], path.with_suffix(".png"))
    print(markdown(payload))


if __name__ == "__main__":
    main()
