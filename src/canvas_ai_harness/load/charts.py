"""A run's charts, drawn with matplotlib's object API: SVG for load-report.html, PNG for timeline.png.

- latency: p95 (solid) and p50 (dotted) of the successes per route over time, with each p95
  threshold drawn as a dashed line in its route's colour; a window without a success leaves a
  gap (no line drawn across it) and every point has a marker, so a route with one point shows;
- throughput: requests/s by outcome, stacked, with the number of users on a second axis (in
  the legend too);
- conversations: time to the first reply and turn latency by turn number (p50 and p95).

A long run is cut into at most ``MAX_WINDOWS`` windows (a window's latency is its merged
histogram, not an average of per-second figures), which keeps an hour's SVG small. Legends sit
outside the plotting area, so they never cover data. No pyplot: no GUI backend, no global state.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

from canvas_ai_harness.load.histogram import Histogram
from canvas_ai_harness.load.metrics import Metrics
from canvas_ai_harness.load.outcomes import OUTCOMES
from canvas_ai_harness.load.thresholds import Thresholds

__all__ = ["COLOURS", "MAX_WINDOWS", "Windows", "charts_svg", "timeline_png"]

MAX_WINDOWS = 300
COLOURS = {
    "ok": "#4c9a2a",
    "throttled": "#e0a100",
    "ai_unavailable": "#8e44ad",
    "contract": "#1f77b4",
    "timeout": "#7f7f7f",
    "redirect": "#d35400",
    "error": "#c0392b",
}
_LABELS = {"ai_unavailable": "AI 503"}
_NAN = math.nan


@dataclass(frozen=True, slots=True)
class Windows:
    """The run cut into windows of ``width`` seconds from ``start`` (epoch seconds)."""

    start: int
    end: int
    width: int

    @classmethod
    def of(cls, start: int, end: int, most: int = MAX_WINDOWS) -> Windows:
        return cls(start, end, max(1, math.ceil((end - start + 1) / most)))

    @property
    def starts(self) -> list[int]:
        return list(range(self.start, self.end + 1, self.width))

    @property
    def xs(self) -> list[float]:
        return [float(w - self.start) for w in self.starts]


def _latency(metrics: Metrics, windows: Windows, route: str) -> tuple[list[float], list[float]]:
    p50: list[float] = []
    p95: list[float] = []
    for w in windows.starts:
        hist = Histogram()
        for t in range(w, w + windows.width):
            point = metrics.seconds.get(t, {}).get(route)
            if point is not None:
                hist.merge(point.latency)
        for values, pct in ((p50, 50), (p95, 95)):
            value = hist.percentile(pct)
            values.append(_NAN if value is None else value)  # NaN: matplotlib leaves a gap
    return p50, p95


def _rates(metrics: Metrics, windows: Windows) -> dict[str, list[float]]:
    values = {o: [0.0] * len(windows.starts) for o in OUTCOMES}
    for i, w in enumerate(windows.starts):
        for t in range(w, w + windows.width):
            for point in metrics.seconds.get(t, {}).values():
                for outcome, n in point.outcomes.items():
                    values[outcome][i] += n / windows.width
    return values


def _draw_latency(ax: Any, metrics: Metrics, windows: Windows, thresholds: Thresholds) -> None:
    xs = windows.xs
    for route in sorted(metrics.routes):
        p50, p95 = _latency(metrics, windows, route)
        if all(math.isnan(v) for v in p95):
            continue
        (line,) = ax.plot(xs, p95, marker="o", markersize=3, label=f"{route} p95")
        colour = line.get_color()
        ax.plot(xs, p50, marker=".", markersize=3, linestyle=":", color=colour, label=f"{route} p50")
        for (key, name), limit in sorted(thresholds.latency.items()):
            if name == route and key == "p95_ms":
                ax.axhline(
                    limit, color=colour, linestyle="--", linewidth=1, label=f"{route} p95 threshold {limit:g} ms"
                )
    for (key, name), limit in sorted(thresholds.latency.items()):
        if name == "all" and key == "p95_ms":
            ax.axhline(
                limit, color="black", linestyle="--", linewidth=1, label=f"all routes p95 threshold {limit:g} ms"
            )
    ax.set_ylabel("latency of successes (ms)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlim(0, max(xs[-1] + windows.width, 1))


def _draw_throughput(ax: Any, metrics: Metrics, windows: Windows, with_users: bool) -> list[Any]:
    xs = windows.xs
    values = _rates(metrics, windows)
    shown = [o for o in OUTCOMES if any(values[o])]
    edges = [*xs, xs[-1] + windows.width]
    if shown:
        # A step plot on window edges (one more point than windows), far smaller than one bar per window.
        ax.stackplot(
            edges,
            *[[*values[o], values[o][-1]] for o in shown],
            labels=[f"{_LABELS.get(o, o)} req/s" for o in shown],
            colors=[COLOURS[o] for o in shown],
            step="post",
            alpha=0.85,
        )
    ax.set_ylabel("requests/s")
    ax.set_xlabel(f"seconds since start ({windows.width} s windows)" if windows.width > 1 else "seconds since start")
    ax.grid(True, alpha=0.3)
    ax.set_xlim(0, max(edges[-1], 1))
    handles, _ = ax.get_legend_handles_labels()
    if with_users and metrics.users:
        twin = ax.twinx()
        users = metrics.users_at(windows.start, windows.end)[:: windows.width]
        (line,) = twin.step(edges, [*users, users[-1]], where="post", color="black", linewidth=1.5, label="users")
        twin.set_ylabel("users")
        twin.set_ylim(bottom=0, top=max(max(users) * 1.15, 1))
        handles.append(line)
    return list(handles)


def _draw_users(ax: Any, metrics: Metrics, windows: Windows) -> None:
    users = metrics.users_at(windows.start, windows.end)[:: windows.width]
    edges = [*windows.xs, windows.xs[-1] + windows.width]
    ax.step(edges, [*users, users[-1]], where="post", color="black", label="users")
    ax.set_ylabel("users")
    ax.set_xlabel("seconds since start")
    ax.set_ylim(bottom=0, top=max(max(users or [0]) * 1.15, 1))
    ax.set_xlim(0, max(edges[-1], 1))
    ax.grid(True, alpha=0.3)


def _draw_turns(ax: Any, metrics: Metrics, thresholds: Thresholds) -> None:
    labels = ["first reply", *(f"turn {t}" for t in sorted(metrics.turns))]
    hists = [metrics.first_reply, *(metrics.turns[t] for t in sorted(metrics.turns))]
    xs = list(range(len(labels)))
    for pct, style in ((50, ":"), (95, "-")):
        values = [_NAN if (v := h.percentile(pct)) is None else v for h in hists]
        ax.plot(xs, values, marker="o", linestyle=style, color="#1f77b4", label=f"p{pct}")
    limit = thresholds.scalars.get("time_to_first_reply_p95_ms")
    if limit is not None:
        ax.axhline(limit, color="#c0392b", linestyle="--", linewidth=1, label=f"first reply p95 threshold {limit:g} ms")
    ax.set_xticks(xs, labels, rotation=30 if len(xs) > 8 else 0, fontsize="small")
    ax.set_ylabel("ms")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    counts = ", ".join(f"{label}: {h.count}" for label, h in zip(labels, hists, strict=True))
    ax.set_title(f"samples: {counts}"[:160], fontsize="x-small", loc="left")


def _figure(height: float) -> Any:
    from matplotlib.figure import Figure  # imported here: only report writing needs matplotlib

    return Figure(figsize=(11, height), layout="constrained")


def _legend_outside(fig: Any, ax: Any, handles: list[Any] | None = None, where: str = "upper") -> None:
    """The axes' legend right of the figure's plotting areas (constrained layout makes room for it)."""
    if handles is None:
        handles, _ = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles=handles, loc=f"outside right {where}", fontsize="small")


def _svg(fig: Any) -> str:
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "canvas-ai-harness"}):  # text as text: smaller
        fig.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: no XML declaration or DOCTYPE inside HTML


def latency_figure(metrics: Metrics, windows: Windows, thresholds: Thresholds) -> Any:
    fig = _figure(4.2)
    ax = fig.add_subplot()
    _draw_latency(ax, metrics, windows, thresholds)
    ax.set_xlabel("seconds since start")
    _legend_outside(fig, ax)
    return fig


def charts_svg(metrics: Metrics, thresholds: Thresholds, start: int | None = None) -> dict[str, str]:
    """The report's charts as inline SVG texts by name (``latency``, ``throughput``, ``users``, ``turns``)."""
    span = metrics.span()
    charts: dict[str, str] = {}
    if span is not None:
        windows = Windows.of(start if start is not None else span[0], span[1])
        charts["latency"] = _svg(latency_figure(metrics, windows, thresholds))
        fig = _figure(3.6)
        ax = fig.add_subplot()
        _legend_outside(fig, ax, _draw_throughput(ax, metrics, windows, with_users=False))
        charts["throughput"] = _svg(fig)
        fig = _figure(2.4)
        ax = fig.add_subplot()
        _draw_users(ax, metrics, windows)
        _legend_outside(fig, ax)
        charts["users"] = _svg(fig)
    if metrics.first_reply.count or metrics.turns:
        fig = _figure(3.6)
        ax = fig.add_subplot()
        _draw_turns(ax, metrics, thresholds)
        _legend_outside(fig, ax)
        charts["turns"] = _svg(fig)
    return charts


def timeline_png(metrics: Metrics, thresholds: Thresholds, path: Any, start: int | None = None) -> bool:
    """``timeline.png``: latency per route (with thresholds) over throughput by outcome and users."""
    span = metrics.span()
    if span is None or not metrics.seconds:
        return False
    windows = Windows.of(start if start is not None else span[0], span[1])
    fig = _figure(7.5)
    top, bottom = fig.subplots(2, 1, sharex=True)
    _draw_latency(top, metrics, windows, thresholds)
    _legend_outside(fig, top)
    _legend_outside(fig, bottom, _draw_throughput(bottom, metrics, windows, with_users=True), "lower")
    fig.suptitle("canvas-ai-harness load: latency and throughput")
    fig.savefig(path, dpi=90)
    return True
