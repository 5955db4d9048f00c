"""The Grafana dashboard asks only for metrics the services export, by the label names
they use (none that clash with what Prometheus Operator attaches)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "deploy" / "grafana" / "crossclear-dashboard.json"
SUFFIXES = ("_bucket", "_count", "_sum", "_total")
CLASHING_LABELS = {"service", "namespace", "pod", "job", "instance", "container"}


def _defined_metrics() -> set[str]:
    names = set()
    for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py")]:
        if "pb" in path.relative_to(ROOT).parts[:2]:
            continue
        names |= set(re.findall(r'"(crossclear_[a-z_]+)"', path.read_text(encoding="utf-8")))
    return names


def _base(name: str) -> str:
    """The metric a series name belongs to (histograms add _bucket/_count/_sum)."""
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def test_every_panel_queries_an_exported_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    defined = _defined_metrics()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        for name in re.findall(r"\bcrossclear_[a-z_]+", expr):
            assert name in defined or _base(name) in defined, (name, expr)
        labels = set(re.findall(r"\b([a-z_]+)\s*(?:=~|=|!=)", expr)) | set(
            re.findall(r"by \(([^)]*)\)", expr)
        )
        flat = {label.strip() for group in labels for label in group.split(",")}
        assert not (flat & CLASHING_LABELS), (expr, flat & CLASHING_LABELS)
