"""Result rows, the printed table, bench/results.json and the chart (bench/results.png).

Every row carries its baseline (name and value, measured in the same run) and the ratio
value / baseline; a target, when the issue sets one, says whether the row meets it."""

from __future__ import annotations

import json
import platform
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Direction = Literal["higher", "lower"]


@dataclass
class Target:
    """`ratio` (value / baseline) or `value` must be at least (`higher`) or at most (`lower`)
    `limit`."""

    on: Literal["ratio", "value"]
    direction: Direction
    limit: float

    def met(self, value: float, ratio: float | None) -> bool | None:
        subject = ratio if self.on == "ratio" else value
        if subject is None:
            return None
        return subject >= self.limit if self.direction == "higher" else subject <= self.limit

    def describe(self, unit: str) -> str:
        sign = ">=" if self.direction == "higher" else "<="
        if self.on == "ratio":
            return f"ratio {sign} {self.limit:g}"
        return f"{sign} {self.limit:g} {unit}"


@dataclass
class Row:
    section: str
    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float | None
    target: Target | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.baseline_value:
            return None
        return self.value / self.baseline_value

    @property
    def met(self) -> bool | None:
        return self.target.met(self.value, self.ratio) if self.target else None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["met"] = self.met
        data["target"] = self.target.describe(self.unit) if self.target else None
        return data


class Results:
    """Collects rows as sections finish and rewrites the outputs after each, so a run that
    fails halfway still leaves what it measured."""

    def __init__(self, out_dir: Path, config: dict[str, Any]) -> None:
        self.out_dir = out_dir
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.section = ""  # the section running now
        # Rows of sections this run does not repeat (BENCH_MERGE=1 keeps them).
        self.kept: list[dict[str, Any]] = []
        self.kept_notes: list[str] = []
        self.meta: dict[str, Any] = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {
                "cpus": _cpus(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "config": config,
        }

    def add(self, row: Row) -> None:
        row.extra.setdefault("run_section", self.section)
        self.rows.append(row)
        print(format_row(row), flush=True)

    def keep_others(self, sections: tuple[str, ...]) -> None:
        """Keeps the rows of the previous results.json that other sections produced."""
        path = self.out_dir / "results.json"
        if not path.exists():
            return
        old = json.loads(path.read_text())
        self.kept = [r for r in old["rows"] if r["extra"].get("run_section") not in sections]
        self.kept_notes = [n for n in old.get("notes", []) if not n.startswith(sections)]
        self.meta["merged_from"] = old.get("started")

    def note(self, text: str) -> None:
        text = f"{self.section}: {text}" if self.section else text
        self.notes.append(text)
        print(f"note: {text}", flush=True)

    def write(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        payload = {
            **self.meta,
            "notes": self.kept_notes + self.notes,
            "rows": self.kept + [r.as_json() for r in self.rows],
        }
        (self.out_dir / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
        if payload["rows"]:
            chart(payload["rows"], self.out_dir / "results.png")

    def table(self) -> str:
        header = (
            f"{'section':<12}{'row':<44}{'value':>14}  {'baseline':<34}{'base value':>14}"
            f"{'ratio':>9}  {'target':<18}{'met':<5}"
        )
        return "\n".join([header, "-" * len(header), *(format_row(r) for r in self.rows)])


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{text} {unit}".strip()


def format_row(row: Row) -> str:
    met = {True: "yes", False: "NO", None: ""}[row.met]
    ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
    target = row.target.describe(row.unit) if row.target else ""
    return (
        f"{row.section:<12}{row.name[:43]:<44}{_fmt(row.value, row.unit):>14}  "
        f"{row.baseline[:33]:<34}{_fmt(row.baseline_value, row.unit):>14}{ratio:>9}  "
        f"{target:<18}{met:<5}"
    )


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    """One bar per row (rows as in results.json): its ratio to its baseline, coloured by
    whether it meets its target, with a ratio target drawn as a tick."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r["ratio"] is not None]
    fig, ax = plt.subplots(figsize=(12, 0.42 * len(shown) + 1.6))
    positions = list(range(len(shown)))
    ax.barh(
        positions,
        [r["ratio"] for r in shown],
        color=[{True: "#2e7d32", False: "#c62828", None: "#607d8b"}[r["met"]] for r in shown],
    )
    for i, row in enumerate(shown):
        label = f"{row['ratio']:.2f}x  ({_fmt(row['value'], row['unit'])})"
        ax.text(row["ratio"] * 1.05, i, label, va="center", fontsize=7)
        limit = re.fullmatch(r"ratio [<>]= ([\d.]+)", row["target"] or "")
        if limit:
            ax.plot([float(limit.group(1))] * 2, [i - 0.4, i + 0.4], color="black", linewidth=1.5)
    ax.set_yticks(positions, [f"{r['section']}: {r['name']}" for r in shown], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("value / baseline (log scale); black tick = target; green met, red missed")
    ax.set_title("Ledger benchmarks: each row against its same-run baseline")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
