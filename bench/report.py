"""`python -m bench.report [results.json]`: the results as a Markdown table (for
docs/benchmarks.md), straight from the JSON a run wrote."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.config import ROOT


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
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "results.json"
    print(markdown(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
