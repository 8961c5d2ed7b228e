"""A run's reports: the JSON summary with its verdict, a per-second CSV, and a PNG plot.

``summarise`` turns the merged ``Metrics`` into the summary (figures, run facts, verdict);
``write_reports`` writes ``summary.json``, ``timeline.csv`` and ``timeline.png`` into the report
directory (locust itself writes ``locust.html`` and ``locust_*.csv`` beside them). The plot shows
p50/p95 latency per route and throughput by outcome over time, with the number of users.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from canvas_ai_harness.load.histogram import Histogram
from canvas_ai_harness.load.metrics import Metrics
from canvas_ai_harness.load.outcomes import OUTCOMES
from canvas_ai_harness.load.thresholds import Thresholds, evaluate

__all__ = ["PROGRESS_PREFIX", "SUMMARY_FILE", "summarise", "write_reports"]

SUMMARY_FILE = "summary.json"
PROGRESS_PREFIX = "canvas-ai-harness load:"  # locust's lines the CLI passes on
_COLOURS = {
    "ok": "#4c9a2a",
    "throttled": "#e0a100",
    "ai_unavailable": "#8e44ad",
    "contract": "#1f77b4",
    "timeout": "#7f7f7f",
    "redirect": "#d35400",
    "error": "#c0392b",
}


def summarise(metrics: Metrics, duration: float, run: Mapping[str, Any], thresholds: Thresholds) -> dict[str, Any]:
    """The whole summary: the run's facts, its figures and the verdict of ``thresholds``."""
    summary: dict[str, Any] = {"run": dict(run, duration_s=round(duration, 3), thresholds=thresholds.source)}
    summary.update(metrics.summary(duration))
    checks = evaluate(thresholds, summary)
    summary["verdict"] = {
        "passed": all(c.passed for c in checks),
        "checks": [c.to_json() for c in checks],
        "missed": [c.describe() for c in checks if not c.passed],
    }
    return summary


def write_reports(summary: Mapping[str, Any], metrics: Metrics, report_dir: Path) -> dict[str, str]:
    """Write the summary, the timeline CSV and the plot; return their paths by name."""
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {"summary": report_dir / SUMMARY_FILE, "timeline": report_dir / "timeline.csv"}
    rows = metrics.timeline()
    with paths["timeline"].open("w", newline="", encoding="utf-8") as handle:
        fields = ["time", "route", *OUTCOMES, "p50_ms", "p95_ms", "users"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    plot = report_dir / "timeline.png"
    if _plot(metrics, plot):
        paths["plot"] = plot
    out = {name: str(path) for name, path in paths.items()}
    full = dict(summary, reports=out)
    paths["summary"].write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def _windows(metrics: Metrics) -> tuple[int, int, int]:
    seconds = sorted(set(metrics.seconds) | set(metrics.users))
    start, end = seconds[0], seconds[-1]
    width = max(1, math.ceil((end - start + 1) / 150))  # at most ~150 points on the x axis
    return start, end, width


def _plot(metrics: Metrics, path: Path) -> bool:
    if not metrics.seconds:
        return False
    from matplotlib.figure import Figure  # the object API: no pyplot, no GUI backend, no global state

    start, end, width = _windows(metrics)
    starts = list(range(start, end + 1, width))
    routes = sorted({r for second in metrics.seconds.values() for r in second})
    fig = Figure(figsize=(11, 7))
    top, bottom = fig.subplots(2, 1, sharex=True)
    for route in routes:
        xs, p50, p95 = [], [], []
        for w in starts:
            hist = Histogram()
            for t in range(w, w + width):
                point = metrics.seconds.get(t, {}).get(route)
                if point is not None:
                    hist.merge(point.latency)
            if hist.count:
                xs.append(w - start)
                p50.append(hist.percentile(50))
                p95.append(hist.percentile(95))
        if xs:
            (line,) = top.plot(xs, p95, label=f"{route} p95")
            top.plot(xs, p50, linestyle=":", color=line.get_color(), label=f"{route} p50")
    top.set_ylabel("latency of successes (ms)")
    top.set_yscale("log")
    top.legend(fontsize="small", ncol=2)
    top.grid(True, which="both", alpha=0.3)
    bottom_values = {o: [0.0] * len(starts) for o in OUTCOMES}
    for i, w in enumerate(starts):
        for t in range(w, w + width):
            for point in metrics.seconds.get(t, {}).values():
                for outcome in OUTCOMES:
                    bottom_values[outcome][i] += point.outcomes.get(outcome, 0) / width
    xs_all = [w - start for w in starts]
    base = [0.0] * len(starts)
    for outcome in OUTCOMES:
        values = bottom_values[outcome]
        if any(values):
            bottom.bar(xs_all, values, width=width, bottom=base, align="edge", color=_COLOURS[outcome], label=outcome)
            base = [b + v for b, v in zip(base, values, strict=True)]
    bottom.set_ylabel("requests/s")
    bottom.set_xlabel("seconds since start")
    bottom.legend(fontsize="small", loc="upper left")
    if metrics.users:
        users = bottom.twinx()
        ts = sorted(metrics.users)
        users.step([t - start for t in ts], [metrics.users[t] for t in ts], where="post", color="black", label="users")
        users.set_ylabel("users")
        users.set_ylim(bottom=0)
    fig.suptitle("canvas-ai-harness load: latency and throughput")
    fig.subplots_adjust(left=0.08, right=0.92, top=0.93, bottom=0.08, hspace=0.08)
    fig.savefig(path, dpi=90)
    return True
