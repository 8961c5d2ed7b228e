"""load-report.html, timeline.csv and the charts, from measures recorded here (no locust, no network)."""

from __future__ import annotations

import csv
import html
import math
import re
from pathlib import Path

import pytest

from canvas_ai_harness.load.charts import MAX_WINDOWS, Windows, _draw_latency, _draw_throughput, latency_figure
from canvas_ai_harness.load.metrics import Metrics
from canvas_ai_harness.load.report import summarise, write_reports
from canvas_ai_harness.load.thresholds import parse_thresholds

T0 = 1_700_000_000
THRESHOLDS = parse_thresholds(
    {"error_rate": 0.01, "time_to_first_reply_p95_ms": 4000, "p95_ms": {"postMessage": 300, "all": 2000}}, "t.toml"
)
RUN = {"host": "http://127.0.0.1:9", "shape": "steady", "users": 4, "run_time_s": 10.0, "request_timeout_s": 60.0}


def _metrics() -> Metrics:
    """Ten seconds: postMessage slow (700 ms) in seconds 0-2 and 8, one getConversation at 5, one error at 8."""
    metrics = Metrics()
    for t in (0, 1, 2, 8):
        for _ in range(5):
            metrics.record("postMessage", 700.0, "ok", T0 + t + 0.5)
        metrics.record("createConversation", 500.0, "ok", T0 + t + 0.2)
    metrics.record("getConversation", 40.0, "ok", T0 + 5.5)
    metrics.record("postMessage", 10.0, "error", T0 + 8.7)
    metrics.record("postMessage", 10.0, "throttled", T0 + 8.8)
    for t in range(0, 10, 2):
        metrics.record_users(T0 + t, 4)
    metrics.first_reply.record(1200.0)
    metrics.record_turn(1, 700.0)
    metrics.record_turn(2, 720.0)
    metrics.conversations["completed"] += 2
    return metrics


def _write(tmp_path: Path, **kwargs: object) -> tuple[dict[str, object], Path]:
    metrics = _metrics()
    summary = summarise(metrics, 10.0, RUN, THRESHOLDS)
    write_reports(summary, metrics, tmp_path, thresholds=THRESHOLDS, started=T0, **kwargs)  # type: ignore[arg-type]
    return summary, tmp_path / "load-report.html"


def _rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'<tr class="check \w+" data-check="([^"]+)"(.*?)</tr>', page, re.S))


def test_report_puts_the_verdict_first_with_exit_code_and_command(tmp_path: Path) -> None:
    _, path = _write(tmp_path, command="canvas-ai-harness load --users 4 --thresholds t.toml")
    page = path.read_text(encoding="utf-8")
    header = page[page.index("<header") : page.index("</header>")]
    assert 'data-verdict="FAIL"' in header and 'data-exit-code="1"' in header
    assert "canvas-ai-harness load --users 4 --thresholds t.toml" in header
    assert page.index("<header") < page.index('id="thresholds"')
    assert 'href="locust.html"' in page


def test_report_shows_every_threshold_and_run_rule_with_its_mark_and_measured_value(tmp_path: Path) -> None:
    summary, path = _write(tmp_path)
    rows = _rows(path.read_text(encoding="utf-8"))
    checks = summary["verdict"]["checks"]  # type: ignore[index]
    assert set(rows) == {c["threshold"] for c in checks}
    assert {"timeouts", "redirects", "stall", "cleanup_failed", "users_crashed", "identity_starved"} <= set(rows)
    slow = rows["p95_ms.postMessage"]
    assert "✗" in slow and "700 ms" in slow and "≤ 300 ms" in slow
    assert "✓" in rows["p95_ms.all"] and "≤ 2000 ms" in rows["p95_ms.all"]
    assert "✗" in rows["error_rate"]  # 1 error in 23 requests
    assert "✓" in rows["timeouts"] and "requests the target did not answer" in html.unescape(rows["timeouts"])


def test_report_breaks_outcomes_down_per_route(tmp_path: Path) -> None:
    _, path = _write(tmp_path)
    page = path.read_text(encoding="utf-8")
    for outcome, count in (("ok", 25), ("error", 1), ("throttled", 1), ("ai_unavailable", 0), ("timeout", 0)):
        row = re.search(rf'<tr data-outcome="{outcome}">(.*?)</tr>', page, re.S)
        assert row is not None and f'<td class="num">{count}</td>' in row.group(1), outcome
    assert 'data-route="getConversation"' in page


def test_report_charts_are_inline_svg_and_the_file_loads_nothing_from_outside(tmp_path: Path) -> None:
    _, path = _write(tmp_path)
    page = path.read_text(encoding="utf-8")
    for name in ("latency", "throughput", "users", "turns"):
        chart = re.search(rf'data-chart="{name}">\s*<svg', page)
        assert chart is not None, name
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_report_says_where_locusts_figures_differ_and_why(tmp_path: Path) -> None:
    locust = {"rps": 2.04, "requests": 22, "duration_s": 13.0, "p95_ms": {"postMessage": 700}}
    _, path = _write(tmp_path, locust=locust)
    section = path.read_text(encoding="utf-8").split('id="locust"')[1]
    assert "2.04" in section and "13.0 s" in section
    assert "last request" in section and "two significant digits" in section
    assert "still waiting when its user was stopped" in section


def test_timeline_csv_has_every_second_of_the_run_and_its_elapsed_seconds(tmp_path: Path) -> None:
    _write(tmp_path)
    with (tmp_path / "timeline.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and list(rows[0])[:3] == ["elapsed_s", "time", "route"]
    assert sorted({int(r["elapsed_s"]) for r in rows}) == list(range(11))  # 10 s run: seconds 0..10
    quiet = [r for r in rows if r["elapsed_s"] == "3"]
    assert {r["route"] for r in quiet} == {"postMessage", "createConversation", "getConversation"}
    assert all(r["ok"] == "0" and r["p95_ms"] == "" for r in quiet)
    assert all(r["users"] == "4" for r in quiet)  # carried from the last sample (second 2)
    assert {int(r["time"]) - int(r["elapsed_s"]) for r in rows} == {T0}


def test_latency_chart_leaves_gaps_marks_every_point_and_draws_thresholds() -> None:
    from matplotlib.figure import Figure

    metrics = _metrics()
    ax = Figure().add_subplot()
    _draw_latency(ax, metrics, Windows.of(T0, T0 + 9), THRESHOLDS)
    lines = {line.get_label(): line for line in ax.lines}
    p95 = [float(y) for y in lines["postMessage p95"].get_ydata()]
    assert math.isnan(p95[4]) and not math.isnan(p95[8])  # no line drawn across seconds without data
    lonely = lines["getConversation p95"]  # one point in the whole run
    assert lonely.get_marker() == "o" and sum(not math.isnan(float(y)) for y in lonely.get_ydata()) == 1
    assert "postMessage p95 threshold 300 ms" in lines and "all routes p95 threshold 2000 ms" in lines


def test_throughput_chart_has_users_in_its_legend() -> None:
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    handles = _draw_throughput(ax, _metrics(), Windows.of(T0, T0 + 9), with_users=True)
    assert "users" in [h.get_label() for h in handles]
    assert {"ok req/s", "error req/s", "throttled req/s"} <= {h.get_label() for h in handles}


def test_legends_sit_outside_the_data() -> None:
    fig = latency_figure(_metrics(), Windows.of(T0, T0 + 9), THRESHOLDS)
    fig.draw_without_rendering()  # lays the figure out (constrained layout)
    ax = fig.axes[0]
    legend, area = fig.legends[0].get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= area.x1  # right of the plotting area, never over a line
    assert legend.x1 <= fig.bbox.x1 + 1  # and inside the picture


@pytest.mark.parametrize("seconds", [10, 3600, 4 * 3600])
def test_a_long_run_is_drawn_in_at_most_the_window_limit(seconds: int) -> None:
    windows = Windows.of(0, seconds - 1)
    assert len(windows.starts) <= MAX_WINDOWS
    assert windows.starts[-1] + windows.width >= seconds


def test_a_run_without_requests_still_writes_a_failing_report(tmp_path: Path) -> None:
    metrics = Metrics()
    summary = summarise(metrics, 5.0, RUN, THRESHOLDS)
    write_reports(summary, metrics, tmp_path, thresholds=THRESHOLDS, started=T0)
    page = (tmp_path / "load-report.html").read_text(encoding="utf-8")
    assert 'data-verdict="FAIL"' in page and "nothing to draw" in page
    assert "✗" in _rows(page)["requests"]
