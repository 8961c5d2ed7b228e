"""How big load-report.html is, and how long the reports take to write, for a one-hour run's data.

    python bench/load_report.py [--seconds 3600] [--users 200] [--rps 60] [--out /tmp/load-report-bench]

Simulates what a load run's master holds at its end (``Metrics``): ``--seconds`` of traffic at
about ``--rps`` requests a second over the five routes, with every outcome (throttled bursts,
AI 503s, a few contract violations, timeouts, redirects and errors), ``--users`` users ramping up
then holding, conversations of up to 12 turns. Nothing is sent anywhere. Then it writes the
reports as a run does (``report.write_reports``) and prints, each timed on its own:

- the size of ``load-report.html`` (its SVG charts: at most ``charts.MAX_WINDOWS`` windows
  whatever the run's length) and the time to write it;
- the same for ``timeline.png`` and ``timeline.csv`` (a row per second and route).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import time
from pathlib import Path

from canvas_ai_harness.htmlreport import write_html
from canvas_ai_harness.load.charts import charts_svg, timeline_png
from canvas_ai_harness.load.metrics import Metrics
from canvas_ai_harness.load.page import page_context
from canvas_ai_harness.load.report import summarise, write_reports
from canvas_ai_harness.load.thresholds import parse_thresholds

ROUTES = {
    "getActiveConversation": (0.30, 15.0),
    "createConversation": (0.10, 1100.0),
    "postMessage": (0.45, 1200.0),
    "getConversation": (0.05, 30.0),
    "deleteConversation": (0.10, 12.0),
}
THRESHOLDS = parse_thresholds(
    {
        "error_rate": 0.01,
        "throttled_rate": 0.05,
        "time_to_first_reply_p95_ms": 4000,
        "min_conversations_per_minute": 10,
        "p95_ms": {"postMessage": 3000, "createConversation": 3000, "all": 3000},
    },
    "bench.toml",
)


def simulate(seconds: int, users: int, rps: float, seed: int = 1) -> tuple[Metrics, int]:
    rng = random.Random(seed)
    metrics = Metrics()
    start = 1_800_000_000
    names = list(ROUTES)
    weights = [share for share, _ in ROUTES.values()]
    for t in range(seconds):
        now = start + t
        active = min(users, math.ceil(users * (t + 1) / 120))  # two minutes of ramp, then hold
        metrics.record_users(now, active)
        throttled_burst = 600 <= t % 1200 < 630
        for _ in range(rng.randint(int(rps * 0.8), int(rps * 1.2)) * active // users):
            route = rng.choices(names, weights)[0]
            typical = ROUTES[route][1]
            roll = rng.random()
            if throttled_burst and roll < 0.3:
                outcome = "throttled"
            elif roll < 0.004:
                outcome = "ai_unavailable"
            elif roll < 0.0045:
                outcome = rng.choice(["contract", "timeout", "redirect", "error"])
            else:
                outcome = "ok"
            metrics.record(route, typical * rng.lognormvariate(0, 0.35), outcome, now + rng.random())
        if t % 7 == 0:
            metrics.first_reply.record(1300 * rng.lognormvariate(0, 0.3))
            metrics.conversations["started"] += 1
            for turn in range(1, rng.randint(1, 12) + 1):
                metrics.record_turn(turn, (1000 + 40 * turn) * rng.lognormvariate(0, 0.3))
            metrics.conversations["completed"] += 1
    return metrics, start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3600)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rps", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/load-report-bench"))
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} (a shared machine: the times move with it)")
    began = time.perf_counter()
    metrics, start = simulate(args.seconds, args.users, args.rps)
    total = sum(metrics.totals().values())
    print(f"simulated {args.seconds} s, {total:,} requests, {args.users} users in {time.perf_counter() - began:.1f} s")
    run = {"host": "https://canvas-staging.example.edu", "shape": "steady", "users": args.users}
    run |= {"run_time_s": float(args.seconds), "request_timeout_s": 60.0}
    summary = summarise(metrics, float(args.seconds), run, THRESHOLDS)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    began = time.perf_counter()
    charts = charts_svg(metrics, THRESHOLDS, start)
    context = page_context(summary, charts, command="canvas-ai-harness load --users 200 --run-time 1h")
    html = write_html(out / "load-report.html", "load.html.j2", context)
    t_html = time.perf_counter() - began
    began = time.perf_counter()
    timeline_png(metrics, THRESHOLDS, out / "timeline.png", start)
    t_png = time.perf_counter() - began
    began = time.perf_counter()
    write_reports(summary, metrics, out / "all", thresholds=THRESHOLDS, started=start)
    t_all = time.perf_counter() - began
    csv_path = out / "all" / "timeline.csv"
    sizes = {name: len(svg) for name, svg in charts.items()}
    print(f"load-report.html  {html.stat().st_size / 2**20:6.2f} MiB  written in {t_html:5.2f} s  (SVG bytes: {sizes})")
    print(f"timeline.png      {(out / 'timeline.png').stat().st_size / 2**10:6.0f} KiB  written in {t_png:5.2f} s")
    print(f"timeline.csv      {csv_path.stat().st_size / 2**20:6.2f} MiB")
    print(f"every report (write_reports: summary, csv, png, html) in {t_all:5.2f} s; files in {out}")


if __name__ == "__main__":
    main()
