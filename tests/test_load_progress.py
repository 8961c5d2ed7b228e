"""What a load run shows while it goes and before it starts: the progress line, its pace, the short-run warning.

A fake clock drives ``ProgressEcho``; nothing here waits for real time.
"""

from __future__ import annotations

import re

import pytest

from canvas_ai_harness.load.metrics import Metrics
from canvas_ai_harness.load.pace import conversation_seconds, short_run_warning
from canvas_ai_harness.load.progress import ProgressEcho, current_rate, progress_line
from canvas_ai_harness.load.thresholds import DEFAULTS, parse_thresholds

T0 = 1_700_000_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _busy_start_then_quiet() -> Metrics:
    """20 requests a second for 30 s, then 2 a second for 10 s."""
    metrics = Metrics()
    for t in range(40):
        for _ in range(20 if t < 30 else 2):
            metrics.record("postMessage", 800.0, "ok", T0 + t + 0.5)
        metrics.record_users(T0 + t, 12)
    return metrics


def test_current_rate_is_the_last_complete_seconds_not_the_running_average() -> None:
    metrics = _busy_start_then_quiet()
    assert current_rate(metrics.seconds, T0 + 40.3) == 2.0  # the run's average is 15.5/s
    assert current_rate(metrics.seconds, T0 + 20.9) == 20.0


def test_progress_line_shows_elapsed_of_total_users_current_rate_and_each_thresholds_verdict() -> None:
    thresholds = parse_thresholds({"error_rate": 0.01, "p95_ms": {"postMessage": 500}}, "t.toml")
    line = progress_line(_busy_start_then_quiet(), thresholds, elapsed=40.2, total=120, users=12, now=T0 + 40.2)
    assert line.startswith("40s/2m · users 12 · 2.0 req/s now · ok 620")
    assert "✓ error_rate 0 (≤ 0.01)" in line
    assert "✗ p95_ms.postMessage 800 ms (≤ 500 ms)" in line
    assert line.index("✗") < line.index("✓")  # missed first: a live line is cut at the terminal's width


def test_progress_line_names_a_run_rule_only_once_it_is_missed() -> None:
    metrics = _busy_start_then_quiet()
    quiet = progress_line(metrics, DEFAULTS, elapsed=40, total=60, users=12, now=T0 + 40)
    assert "timeouts" not in quiet and "redirects" not in quiet
    metrics.record("postMessage", 60_000.0, "timeout", T0 + 39.5)
    assert "✗ timeouts 1 (≤ 0)" in progress_line(metrics, DEFAULTS, elapsed=40, total=60, users=12, now=T0 + 40)


def test_off_a_terminal_progress_is_one_line_every_10_seconds() -> None:
    clock, said = FakeClock(), []
    shown = ProgressEcho(said.append, every=10, clock=clock)
    for second in range(1, 36):  # locust's master sends one a second
        clock.now = float(second)
        shown.progress(f"{second}s")
    assert said == ["10s", "20s", "30s"]
    shown.message("MISSED p95_ms.postMessage")  # messages always show
    assert said[-1] == "MISSED p95_ms.postMessage"


def test_progress_every_0_shows_no_progress_but_every_message() -> None:
    clock, said = FakeClock(), []
    shown = ProgressEcho(said.append, every=0, clock=clock)
    for second in range(100):
        clock.now = float(second)
        shown.progress("line")
    shown.message("done")
    assert said == ["done"]


def test_on_a_terminal_progress_is_one_live_line_rewritten_in_place() -> None:
    said: list[str] = []
    written: list[str] = []
    shown = ProgressEcho(said.append, every=10, live=written.append, width=20)
    shown.progress("1s/1m · users 3 · a long tail that does not fit")
    shown.progress("2s/1m · users 4")
    assert said == [] and all(w.startswith("\r\x1b[2K") for w in written)
    assert max(len(w) - len("\r\x1b[2K") for w in written) <= 19  # never wraps, so it can be rewritten
    shown.message("MISSED something")
    assert written[-1] == "\r\x1b[2K" and said == ["MISSED something"]  # the live line is cleared first


def test_a_run_shorter_than_one_conversation_warns_with_run_length_think_scale_and_what_to_set() -> None:
    warning = short_run_warning(20, 1.0)
    assert warning.startswith("warning: a 20s run is shorter than one conversation at --think-scale 1")
    assert "\n" not in warning
    suggested = re.search(r"set --run-time (\S+) or more, or --think-scale ([\d.]+) or less", warning)
    assert suggested is not None
    assert not short_run_warning(20, float(suggested.group(2)))  # what it suggests silences it


@pytest.mark.parametrize(
    ("run_time", "think_scale"),
    [
        pytest.param(30, 0.05, id="readme-example-run"),
        pytest.param(600, 1.0, id="ten-minutes-real-think"),
        pytest.param(5, 0.0, id="no-think-time"),
    ],
)
def test_a_run_longer_than_one_conversation_is_not_warned(run_time: float, think_scale: float) -> None:
    assert short_run_warning(run_time, think_scale) == ""


def test_a_conversation_lasts_minutes_at_real_think_time_and_seconds_when_scaled() -> None:
    assert 120 < conversation_seconds(1.0) < 600
    assert conversation_seconds(0.1) < conversation_seconds(1.0) / 5
    assert conversation_seconds(0.0, reply_ms=1000) == pytest.approx(conversation_seconds(0.0, reply_ms=500) * 2)
