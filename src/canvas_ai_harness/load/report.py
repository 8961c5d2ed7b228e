"""A run's reports: the JSON summary with its verdict, ``load-report.html``, a per-second CSV and a plot.

``summarise`` turns the merged ``Metrics`` into the summary (figures, run facts, verdict);
``write_reports`` writes ``summary.json``, ``load-report.html`` (``page.py``, charts from
``charts.py``), ``timeline.csv`` (every second of the run, with its elapsed seconds) and
``timeline.png`` into the report directory (locust itself writes ``locust.html`` and
``locust_*.csv`` beside them).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from canvas_ai_harness.htmlreport import write_html
from canvas_ai_harness.load.charts import charts_svg, timeline_png
from canvas_ai_harness.load.metrics import Metrics
from canvas_ai_harness.load.outcomes import OUTCOMES
from canvas_ai_harness.load.page import page_context
from canvas_ai_harness.load.thresholds import DEFAULTS, Thresholds, evaluate

__all__ = [
    "COMMAND_ENV",
    "HTML_FILE",
    "INTERRUPTED_ENV",
    "PROGRESS_PREFIX",
    "SUMMARY_FILE",
    "TIMELINE_FILE",
    "summarise",
    "write_reports",
]

SUMMARY_FILE = "summary.json"
HTML_FILE = "load-report.html"
TIMELINE_FILE = "timeline.csv"
PROGRESS_PREFIX = "canvas-ai-harness load:"  # locust's lines the CLI passes on
COMMAND_ENV = "CANVAS_AI_LOAD_COMMAND"  # the CLI's command line (redacted), for the report
INTERRUPTED_ENV = "CANVAS_AI_LOAD_INTERRUPTED_FILE"  # exists once the CLI was interrupted (Ctrl-C)


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


def write_reports(
    summary: Mapping[str, Any],
    metrics: Metrics,
    report_dir: Path,
    *,
    thresholds: Thresholds = DEFAULTS,
    started: float | None = None,
    command: str = "",
    locust: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Write the summary, the timeline CSV and plot, and ``load-report.html``; return their paths by name.

    ``started`` (epoch seconds) is where the timeline begins; ``command`` the command line shown
    (already redacted); ``locust`` locust's own figures for the run (``page.py``).
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "summary": report_dir / SUMMARY_FILE,
        "timeline": report_dir / TIMELINE_FILE,
        "html": report_dir / HTML_FILE,
    }
    span = metrics.span()
    start = int(started) if started is not None else (span[0] if span else None)
    end = int(started + float(summary.get("run", {}).get("duration_s", 0))) if started is not None else None
    if span is not None and end is not None:
        end = max(end, span[1])
    with paths["timeline"].open("w", newline="", encoding="utf-8") as handle:
        fields = ["elapsed_s", "time", "route", *OUTCOMES, "p50_ms", "p95_ms", "users"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(metrics.timeline(start, end))
    plot = report_dir / "timeline.png"
    if timeline_png(metrics, thresholds, plot, start):
        paths["plot"] = plot
    out = {name: str(path) for name, path in paths.items()}
    full = dict(summary, reports=out)
    paths["summary"].write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    links = [("locust's own report", "locust.html"), ("summary.json", SUMMARY_FILE), ("timeline.csv", TIMELINE_FILE)]
    if "plot" in paths:
        links.append(("timeline.png", "timeline.png"))
    context = page_context(
        full, charts_svg(metrics, thresholds, start), command=command or "locust", locust=locust, links=links
    )
    write_html(paths["html"], "load.html.j2", context)
    return out
