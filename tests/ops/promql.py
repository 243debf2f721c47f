"""What a PromQL expression refers to, so the ops tests can hold alert rules and dashboard
panels to the metrics the code really exports (ledger/metrics.py).

This is a lexical reading, not a parser (promtool parses): it finds metric names and the
label names used in matchers and in by/without clauses."""

from __future__ import annotations

import re
from dataclasses import dataclass

from prometheus_client import Metric
from prometheus_client.metrics import MetricWrapperBase

from ledger import metrics as ledger_metrics

# Words that look like metric names but belong to the language.
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
     "unless", "offset", "inf", "nan"}
)  # fmt: skip
# Labels every scraped series carries, or that the query language itself adds.
_TARGET_LABELS = frozenset({"job", "instance", "le", "__name__"})
# Series Prometheus makes itself for every target.
_SYNTHETIC = {"up": frozenset[str]()}

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_BRACES = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GRAFANA_VARIABLES = re.compile(r"\$\{?\w+\}?")
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)\b(?!\s*\()")
_MATCHER_LABEL = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")


def _sample_names(metric: Metric) -> list[str]:
    """The series names a metric family is scraped as."""
    if metric.type == "counter":
        return [f"{metric.name}_total"]
    if metric.type == "histogram":
        return [f"{metric.name}_{suffix}" for suffix in ("bucket", "sum", "count")]
    return [metric.name]


@dataclass(frozen=True)
class MetricCatalogue:
    """Series names the ledger exports, each with its label names."""

    labels: dict[str, frozenset[str]]

    @classmethod
    def from_ledger(cls) -> MetricCatalogue:
        labels: dict[str, frozenset[str]] = dict(_SYNTHETIC)
        for collector in vars(ledger_metrics).values():
            if not isinstance(collector, MetricWrapperBase):
                continue
            # A labelled metric with no child yet exposes no samples, so its label names
            # are read from the collector itself.
            names = frozenset(collector._labelnames)
            for family in collector.describe():
                for sample_name in _sample_names(family):
                    labels[sample_name] = names
        return cls(labels)

    def unknown_metrics(self, expr: str) -> set[str]:
        return metric_names(expr) - self.labels.keys()

    def unknown_labels(self, expr: str) -> set[str]:
        known = set(_TARGET_LABELS)
        for name in metric_names(expr):
            known |= self.labels.get(name, frozenset())
        return label_names(expr) - known


def _without_literals(expr: str) -> str:
    return _STRINGS.sub('""', _GRAFANA_VARIABLES.sub("1m", expr))


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (not functions, keywords, labels or numbers)."""
    text = _RANGES.sub("", _BRACES.sub("", _without_literals(expr)))
    text = _GROUPING.sub("", text)
    return {
        word
        for word in _IDENTIFIER.findall(text)
        if word.lower() not in _KEYWORDS and not word[0].isdigit()
    }


def label_names(expr: str) -> set[str]:
    """Label names used in selectors and in by/without/on/ignoring clauses."""
    text = _without_literals(expr)
    names: set[str] = set()
    for braces in _BRACES.findall(text):
        names |= set(_MATCHER_LABEL.findall(braces))
    for grouping in _GROUPING.findall(text):
        names |= {part.strip() for part in grouping.split(",") if part.strip()}
    return names
