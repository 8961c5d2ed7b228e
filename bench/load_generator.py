"""How much load one locust process of the load suite generates, and how many students it holds.

    python bench/load_generator.py [--users 50] [--seconds 20] [--capacity 2500,5000,10000,15000]

Prints, in one run:

1. Throughput with zero think time: requests/s of the student scenario from ONE locust process
   against the mock, next to a minimal ``FastHttpUser`` that only GETs one route of the same
   server (the generator's ceiling), and their ratio (target: at least 70 %).
2. Capacity with realistic think time: for each number of students, the locust process's own CPU
   (psutil, averaged over a window after every user is spawned) and the request rate; the largest
   number held below 90 % CPU (target: 10,000).

The mock runs in a process of its own. With two or more cores, ``taskset`` pins the mock to core 1
and locust to core 0, so neither steals the other's CPU. A benchmark, not a test: figures vary
with the machine. Every locust run has a run time and stops by itself; only loopback is used.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from canvas_ai_harness.config import Target, load_target

LOCUSTFILE = Path(__file__).resolve().parents[1] / "src" / "canvas_ai_harness" / "load" / "locustfile.py"
CEILING = '''
from locust import FastHttpUser, constant, task

class OneRoute(FastHttpUser):
    """The generator's ceiling: one cheap GET, nothing else."""
    wait_time = constant(0)

    @task
    def active(self):
        self.client.get("{path}", headers={{"Authorization": "Bearer {token}", "Accept": "application/json"}})
'''


def _pin(core: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)]
    return []


@contextlib.contextmanager
def mock(latency: str, scratch: Path) -> Iterator[tuple[Target, subprocess.Popen[bytes]]]:
    """The mock Canvas in its own process (pinned to core 1); yields its target and the process."""
    target_file = scratch / f"mock-{time.monotonic_ns()}.toml"
    command = [*_pin(1), sys.executable, "-m", "canvas_ai_harness", "mock", "--port", "0"]
    command += ["--llm-latency-ms", latency, "--write-target", str(target_file)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not target_file.exists():
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("the mock did not start")
            time.sleep(0.1)
        time.sleep(0.5)
        yield load_target(target_file), process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def locust(
    locustfile: Path, host: str, users: int, rate: float, seconds: float, report: Path, extra: list[str]
) -> subprocess.Popen[bytes]:
    command = [*_pin(0), sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary"]
    command += ["--host", host, "-u", str(users), "-r", f"{rate:g}", "-t", f"{int(seconds)}s"]
    command += ["--csv", str(report / "locust"), "--loglevel", "WARNING", *extra]
    log = (report / "locust.log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def cpu_during(processes: list[subprocess.Popen[bytes]], start: float, window: float) -> list[float]:
    """Average CPU % of each process between ``start`` (monotonic) and ``start + window``."""
    handles = [psutil.Process(p.pid) for p in processes]
    time.sleep(max(0.0, start - time.monotonic()))
    before = [sum(h.cpu_times()[:2]) for h in handles]
    began = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - began
    return [100.0 * (sum(h.cpu_times()[:2]) - b) / elapsed for h, b in zip(handles, before, strict=True)]


def aggregated_rps(report: Path) -> tuple[float, float]:
    """locust's own requests/s and failure share (the "Aggregated" row of its stats CSV)."""
    with (report / "locust_stats.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                count = int(row["Request Count"])
                return float(row["Requests/s"]), int(row["Failure Count"]) / max(count, 1)
    raise SystemExit(f"no Aggregated row in {report / 'locust_stats.csv'}")


def throughput(users: int, seconds: float, scratch: Path) -> None:
    print(f"Throughput, zero think time: ONE locust process, {users} users, {seconds:g} s per run, mock AI latency 0")
    results = {}
    with mock("0", scratch) as (target, server):
        url = target.base_url
        path = f"/api/v1/courses/{target.course_id}/ai_experiences/{target.ai_experience_id}/conversations"
        ceiling = scratch / "ceiling_locustfile.py"
        ceiling.write_text(CEILING.format(path=path, token=target.tokens.other_student))
        runs = {
            "student scenario": (LOCUSTFILE, ["--think-scale", "0", "--teachers", "0", "--progress-every", "0"]),
            "ceiling: one GET": (ceiling, []),
        }
        for name, (locustfile, extra) in runs.items():
            report = scratch / name.split()[0].strip(":")
            report.mkdir()
            process = locust(locustfile, url, users, users, seconds, report, extra)
            cpu = cpu_during([process, server], time.monotonic() + 4, max(1.0, seconds - 6))
            process.wait(timeout=seconds + 120)
            rps, failures = aggregated_rps(report)
            results[name] = rps
            print(
                f"  {name:<18} {rps:9.1f} req/s   failures {100 * failures:5.2f} %   "
                f"CPU: locust {cpu[0]:5.1f} %, mock {cpu[1]:5.1f} %"
            )
    ratio = results["student scenario"] / results["ceiling: one GET"]
    print(f"  scenario / ceiling {100 * ratio:8.1f} %   (target: at least 70 %)")


def capacity(steps: list[int], rate: float, window: float, latency: str, scratch: Path) -> None:
    print(f"\nCapacity, realistic think time: ONE locust process, mock AI latency {latency} ms, {window:g} s window")
    print(f"  {'students':>8} {'spawned':>8} {'req/s':>8} {'locust CPU':>11} {'failures':>9}")
    best = 0
    for users in steps:
        with mock(latency, scratch) as (target, _server):
            url = target.base_url
            report = scratch / f"capacity-{users}"
            report.mkdir()
            spawn = users / rate
            run_time = spawn + 15 + window + 5
            extra = ["--teachers", "0", "--think-scale", "1", "--progress-every", "0", "--report-dir", str(report)]
            extra += ["--max-users", str(users)]
            process = locust(LOCUSTFILE, url, users, rate, run_time, report, extra)
            cpu = cpu_during([process], time.monotonic() + spawn + 15, window)[0]
            process.wait(timeout=run_time + 300)
            summary = json.loads((report / "summary.json").read_text())
            spawned = max((n for _, n in _users(report)), default=0)
            totals = summary["totals"]
            failures = 1 - totals["ok"] / max(totals["requests"], 1)
            print(f"  {users:>8} {spawned:>8} {totals['rps']:>8.1f} {cpu:>10.1f}% {100 * failures:>8.2f}%")
            if cpu < 90 and spawned >= users:
                best = max(best, users)
            else:
                break
    print(f"  largest number of students held below 90 % CPU: {best}   (target: 10,000)")


def _users(report: Path) -> list[tuple[int, int]]:
    rows = []
    with contextlib.suppress(FileNotFoundError), (report / "timeline.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["users"]:
                rows.append((int(row["time"]), int(row["users"])))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="users for the throughput runs")
    parser.add_argument("--seconds", type=float, default=20, help="length of each throughput run")
    parser.add_argument("--capacity", default="2500,5000,10000,15000", help="student counts to try, ascending")
    parser.add_argument("--spawn-rate", type=float, default=250, help="users started per second (capacity)")
    parser.add_argument("--window", type=float, default=30, help="CPU measuring window once all are spawned (s)")
    parser.add_argument("--latency", default="1000:250", help="the mock's AI latency in the capacity runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
        throughput(args.users, args.seconds, Path(scratch))
        steps = [int(s) for s in args.capacity.split(",") if s.strip()]
        capacity(steps, args.spawn_rate, args.window, args.latency, Path(scratch))


if __name__ == "__main__":
    main()
