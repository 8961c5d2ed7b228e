"""How much load one locust process of the load suite generates, and how many students it holds.

    python bench/load_generator.py [--users 50] [--seconds 20] [--repeat 3]
                                   [--capacity 5000,10000,15000,20000,25000] [--spawn-rate 400] [--nice -5]

Prints, in one run:

1. Throughput with zero think time: requests/s of the student scenario from ONE locust process
   against the mock, next to a minimal ``FastHttpUser`` that only GETs one route of the same
   server (the generator's ceiling), and their ratio (target: at least 70 %). Each kind runs
   ``--repeat`` times, interleaved, and medians are shown; so is the rate per CPU-second of the
   locust process (requests/s divided by its CPU share), which a busy machine skews less.
2. Capacity with realistic think time: for each number of students (ascending), once every user
   is spawned, the locust process's own CPU (psutil, averaged over ``--window`` seconds), its
   request rate and memory; the largest number held below 90 % CPU (target: 10,000).

The mock runs in a process of its own; ``--pin`` pins it to core 1 and locust to core 0 with
``taskset`` (best on an otherwise idle machine: on a shared one, pinning ties each to a core
someone else may be using), and ``--nice -5`` (root) puts both ahead of whatever else runs.
A benchmark, not a test: figures vary with the machine. Every locust run has a run time and
stops by itself; only loopback is used.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from canvas_ai_harness.config import Target, load_target

FILES = 65_536
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


NICE = 0  # --nice: a busy shared machine skews the figures less with the benchmark's processes first


def _more_files() -> None:
    """In a child before exec: one socket per simulated user (and per connection on the mock's side)."""
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (FILES, FILES))  # root may raise the hard limit
    if NICE:
        with contextlib.suppress(OSError):
            os.nice(NICE)


PIN = False  # --pin


def _pin(core: int) -> list[str]:
    if PIN and shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)]
    return []


@contextlib.contextmanager
def mock(latency: str, scratch: Path) -> Iterator[tuple[Target, subprocess.Popen[bytes]]]:
    """The mock Canvas in its own process (pinned to core 1); yields its target and the process."""
    target_file = scratch / f"mock-{time.monotonic_ns()}.toml"
    command = [*_pin(1), sys.executable, "-m", "canvas_ai_harness", "mock", "--port", "0"]
    command += ["--llm-latency-ms", latency, "--write-target", str(target_file)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_more_files)
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
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_more_files)


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


def throughput(users: int, seconds: float, repeat: int, scratch: Path) -> None:
    print(f"Throughput, zero think time: ONE locust process, {users} users, {seconds:g} s per run, mock AI latency 0")
    print(
        f"  (each run {repeat} times, interleaved; medians. req/CPU-s: requests per CPU-second of the locust process)"
    )
    figures: dict[str, list[tuple[float, float, float, float]]] = {}
    with mock("0", scratch) as (target, server):
        url = target.base_url
        path = f"/api/v1/courses/{target.course_id}/ai_experiences/{target.ai_experience_id}/conversations"
        ceiling = scratch / "ceiling_locustfile.py"
        ceiling.write_text(CEILING.format(path=path, token=target.tokens.other_student))
        runs = {
            "student scenario": (LOCUSTFILE, ["--think-scale", "0", "--teachers", "0", "--progress-every", "0"]),
            "ceiling: one GET": (ceiling, []),
        }
        for attempt in range(repeat):
            for name, (locustfile, extra) in runs.items():
                report = scratch / f"{name.split()[0].strip(':')}-{attempt}"
                report.mkdir()
                process = locust(locustfile, url, users, users, seconds, report, extra)
                locust_cpu, mock_cpu = cpu_during([process, server], time.monotonic() + 4, max(1.0, seconds - 6))
                process.wait(timeout=seconds + 120)
                rps, failures = aggregated_rps(report)
                figures.setdefault(name, []).append((rps, locust_cpu, mock_cpu, failures))
    medians = {}
    for name, rows in figures.items():
        rps = statistics.median(r[0] for r in rows)
        per_cpu = statistics.median(r[0] / max(r[1] / 100, 1e-9) for r in rows)
        medians[name] = (rps, per_cpu)
        print(
            f"  {name:<18} {rps:8.1f} req/s  {per_cpu:8.0f} req/CPU-s   CPU: locust "
            f"{statistics.median(r[1] for r in rows):5.1f} %, mock {statistics.median(r[2] for r in rows):5.1f} %   "
            f"failures {100 * max(r[3] for r in rows):.2f} %"
        )
    scenario, ceiling_figures = medians["student scenario"], medians["ceiling: one GET"]
    print(
        f"  scenario / ceiling: {100 * scenario[0] / ceiling_figures[0]:.1f} % of the requests/s, "
        f"{100 * scenario[1] / ceiling_figures[1]:.1f} % of the requests per CPU-second   (target: at least 70 %)"
    )


_PROGRESS = re.compile(r"canvas-ai-harness load:\s+\S+ users=(\d+) requests=(\d+)")


def _progress(report: Path) -> tuple[int, int]:
    """The latest (users, requests) the locust process reported in its log."""
    found = (0, 0)
    with contextlib.suppress(FileNotFoundError):
        for match in _PROGRESS.finditer((report / "locust.log").read_text(errors="replace")):
            found = (int(match[1]), int(match[2]))
    return found


def capacity(steps: list[int], rate: float, settle: float, window: float, latency: str, scratch: Path) -> None:
    print(
        f"\nCapacity, realistic think time: ONE locust process, mock AI latency {latency} ms; once all are "
        f"spawned, {settle:g} s to settle, then {window:g} s measured"
    )
    print(f"  {'students':>8} {'spawned':>8} {'req/s':>8} {'locust CPU':>11} {'RSS MiB':>8} {'failures':>9}")
    best = 0
    for users in steps:
        with mock(latency, scratch) as (target, _server):
            report = scratch / f"capacity-{users}"
            report.mkdir()
            patience = 3 * users / rate + 60  # spawning slows down when the process is busy
            extra = ["--teachers", "0", "--think-scale", "1", "--progress-every", "2", "--report-dir", str(report)]
            extra += ["--max-users", str(users)]
            process = locust(LOCUSTFILE, target.base_url, users, rate, patience + settle + window + 60, report, extra)
            deadline = time.monotonic() + patience
            while _progress(report)[0] < users and time.monotonic() < deadline and process.poll() is None:
                time.sleep(1)
            time.sleep(settle)  # past the first conversations, which all start together: a steady state
            first = _progress(report)
            began = time.monotonic()
            cpu = cpu_during([process], began, window)[0]
            last = _progress(report)
            rss = psutil.Process(process.pid).memory_info().rss / 2**20
            process.send_signal(signal.SIGINT)  # stop now: users end, clean-up runs, the summary is written
            process.wait(timeout=600)
            summary = json.loads((report / "summary.json").read_text())
            totals = summary["totals"]
            failures = 1 - totals["ok"] / max(totals["requests"], 1)
            rps = (last[1] - first[1]) / max(time.monotonic() - began, 1e-9)
            spawned = last[0]
            print(f"  {users:>8} {spawned:>8} {rps:>8.1f} {cpu:>10.1f}% {rss:>8.0f} {100 * failures:>8.2f}%")
            if cpu < 90 and spawned >= users:
                best = max(best, users)
            else:
                break
    print(f"  largest number of students held below 90 % CPU: {best}   (target: 10,000)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="users for the throughput runs")
    parser.add_argument("--seconds", type=float, default=20, help="length of each throughput run")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs of each kind (medians); 0: skip")
    parser.add_argument("--capacity", default="5000,10000,15000,20000,25000", help="student counts, ascending")
    parser.add_argument("--spawn-rate", type=float, default=400, help="users started per second (capacity)")
    parser.add_argument("--settle", type=float, default=120, help="seconds after spawning before measuring")
    parser.add_argument("--window", type=float, default=60, help="seconds of CPU measuring (capacity)")
    parser.add_argument("--latency", default="1000:250", help="the mock's AI latency in the capacity runs")
    parser.add_argument("--nice", type=int, default=0, help="niceness of the mock and locust (root: below 0)")
    parser.add_argument("--pin", action="store_true", help="pin the mock to core 1 and locust to core 0 (taskset)")
    args = parser.parse_args()
    global NICE, PIN
    NICE, PIN = args.nice, args.pin
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
        if args.repeat > 0:
            throughput(args.users, args.seconds, args.repeat, Path(scratch))
        steps = [int(s) for s in args.capacity.split(",") if s.strip()]
        capacity(steps, args.spawn_rate, args.settle, args.window, args.latency, Path(scratch))


if __name__ == "__main__":
    main()
