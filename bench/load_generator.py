"""How much load one locust process of the load suite generates, and how many students it holds.

    python bench/load_generator.py [--users 50] [--seconds 20] [--repeat 3] [--compare CHECKOUT]
                                   [--students 25000] [--spawn-rate 400] [--keep-alive 75]

Prints, in one run:

1. Throughput with zero think time: requests/s of the student scenario from ONE locust process
   against the mock, next to two minimal ``FastHttpUser``s on the same server: one that sends
   the scenario's very requests (same routes, same message sizes, same turns) and nothing else
   (no classification, metrics, checks), and one that only GETs one route (the generator's
   ceiling). The ratios: scenario / ceiling (target: at least 85 %) and scenario / same
   requests (what the suite's own bookkeeping costs). ``--compare`` runs the scenario of another
   checkout too (``git worktree add /tmp/before main``): before and after in one run, which a
   busy machine skews less than two runs. Each kind runs ``--repeat`` times,
   interleaved, and medians are shown; so is the rate per CPU-second of the locust process
   (requests/s divided by its CPU share), which a busy machine skews less.
2. Many students with realistic think time: for each number of students (``--students``,
   ascending, comma-separated), ONE locust process against the mock; once every user is
   spawned and has settled, the locust process's own CPU (psutil, averaged over ``--window``
   seconds), its request rate, new connections per second (counted where geventhttpclient
   connects), memory and failures; then the largest number held below 90 % CPU (target:
   25,000). The mock keeps idle connections for ``--keep-alive`` seconds and holds up to one
   idle connection per student, so a connection the generator opens again is its own churn.

The open-file limit of both processes is raised to ``--files`` (root may raise the hard limit)
and printed. ``--pin`` pins the mock to core 1 and locust to core 0 with ``taskset`` (best on
an otherwise idle machine), ``--nice -5`` (root) puts both ahead of whatever else runs.
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
SAME_REQUESTS = '''
import json
import random

from locust import FastHttpUser, constant, task

from canvas_ai_harness.load.behaviour import Behaviour, compose_message, draw_turns

BASE = "{path}"
BEHAVIOUR = Behaviour(think_scale=0)


class SameRequests(FastHttpUser):
    """The student scenario's requests and nothing else: no classification, metrics or checks."""
    wait_time = constant(0)

    def on_start(self):
        student = self.client.post("/__harness__/students?count=1&course_id={course}").json()[0]
        self.headers = {{"Authorization": "Bearer " + student["token"], "Accept": "application/json"}}
        self.json_headers = {{**self.headers, "Content-Type": "application/json"}}
        self.rng = random.Random()

    @task
    def conversation(self):
        rng, b = self.rng, BEHAVIOUR
        conversation = (self.client.get(BASE, headers=self.headers).json() or {{}}).get("id")
        if conversation is None or rng.random() < b.restart_rate:
            conversation = self.client.post(BASE, headers=self.headers).json().get("id")
            if conversation is None:
                return
        path = f"{{BASE}}/{{conversation}}"
        for _ in range(draw_turns(rng, b.turns_mean, b.max_turns)):
            data = json.dumps({{"message": compose_message(rng)}}, ensure_ascii=False)
            self.client.post(path + "/messages", data=data, headers=self.json_headers)
        if rng.random() >= b.leave_rate:
            self.client.delete(path, headers=self.headers)
'''
# Wraps a locustfile: counts the connections geventhttpclient opens and writes "<monotonic> <count>"
# to a file every second (connection churn, seen from the generator).
COUNTING = """
import time

import gevent
from geventhttpclient.connectionpool import ConnectionPool
from locust import events

{imports}

_connects = 0
_connect = ConnectionPool._connect_socket


def _counting(self, *args, **kwargs):
    global _connects
    _connects += 1
    return _connect(self, *args, **kwargs)


ConnectionPool._connect_socket = _counting


def _write():
    while True:
        with open({path!r}, "w") as handle:
            handle.write(f"{{time.monotonic()}} {{_connects}}\\n")
        gevent.sleep(1)


@events.init.add_listener
def _started(environment, **_kwargs):
    gevent.spawn(_write)
"""
FILES = 65_536  # --files
NICE = 0  # --nice: a busy shared machine skews the figures less with the benchmark's processes first
PIN = False  # --pin


def _more_files() -> None:
    """In a child before exec: one socket per simulated user (and per connection on the mock's side)."""
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (FILES, FILES))  # root may raise the hard limit
    if NICE:
        with contextlib.suppress(OSError):
            os.nice(NICE)


def _pin(core: int) -> list[str]:
    if PIN and shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)]
    return []


def _open_files(process: subprocess.Popen[bytes]) -> str:
    with contextlib.suppress(psutil.Error, AttributeError):
        soft, hard = psutil.Process(process.pid).rlimit(psutil.RLIMIT_NOFILE)
        return f"{soft}" if soft == hard else f"{soft} (hard {hard})"
    return "?"


@contextlib.contextmanager
def mock(
    latency: str,
    scratch: Path,
    *,
    keep_alive: float | None = None,
    idle: int | None = None,
    more: tuple[str, ...] = (),
) -> Iterator[tuple[Target, subprocess.Popen[bytes]]]:
    """The mock Canvas in its own process (pinned to core 1); yields its target and the process."""
    target_file = scratch / f"mock-{time.monotonic_ns()}.toml"
    argv = ["mock", "--port", "0", "--llm-latency-ms", latency, "--write-target", str(target_file), *more]
    if idle is not None:
        argv += ["--max-idle-connections", str(idle)]
    if keep_alive is not None:
        argv += ["--keep-alive", f"{keep_alive:g}"]
    command = [sys.executable, "-m", "canvas_ai_harness", *argv]
    process = subprocess.Popen(
        [*_pin(1), *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_more_files
    )
    try:
        deadline = time.monotonic() + 60
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


def counting(locustfile: Path, imports: str, report: Path) -> Path:
    """A locustfile that runs ``imports`` and counts connections into ``report / connects``."""
    locustfile.write_text(COUNTING.format(imports=imports, path=str(report / "connects")))
    return locustfile


def connects(report: Path) -> tuple[float, int]:
    """The latest (monotonic time, connections opened so far) the locust process wrote."""
    with contextlib.suppress(FileNotFoundError, ValueError):
        when, count = (report / "connects").read_text().split()
        return float(when), int(count)
    return time.monotonic(), 0


def locust(
    locustfile: Path,
    host: str,
    users: int,
    rate: float,
    seconds: float,
    report: Path,
    extra: list[str],
    source: Path | None = None,
) -> subprocess.Popen[bytes]:
    """locust in a process of its own; ``source``: a checkout whose package it imports instead."""
    command = [*_pin(0), sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary"]
    command += ["--host", host, "-u", str(users), "-r", f"{rate:g}", "-t", f"{int(seconds)}s"]
    command += ["--csv", str(report / "locust"), "--loglevel", "WARNING", *extra]
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source / "src"), env.get("PYTHONPATH")]))
    log = (report / "locust.log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_more_files, env=env)


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


def throughput(users: int, seconds: float, repeat: int, scratch: Path, compare: Path | None) -> None:
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
        same = scratch / "same_requests_locustfile.py"
        same.write_text(SAME_REQUESTS.format(path=path, course=target.course_id))
        scenario = ["--think-scale", "0", "--teachers", "0", "--progress-every", "0"]
        runs: dict[str, tuple[Path, list[str], Path | None]] = {"student scenario": (LOCUSTFILE, scenario, None)}
        if compare is not None:
            runs["scenario, --compare"] = (compare / LOCUSTFILE.relative_to(LOCUSTFILE.parents[3]), scenario, compare)
        runs["same requests"] = (same, [], None)
        runs["ceiling: one GET"] = (ceiling, [], None)
        for attempt in range(repeat):
            for kind, (name, (locustfile, extra, source)) in enumerate(runs.items()):
                report = scratch / f"throughput-{kind}-{attempt}"
                report.mkdir()
                process = locust(locustfile, url, users, users, seconds, report, extra, source)
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
    scenario = medians["student scenario"]
    others = [("ceiling: one GET", "   (target: at least 85 %)"), ("same requests", "")]
    if compare is not None:
        print(f"  --compare: {compare}")
        others.append(("scenario, --compare", ""))
    for name, target_text in others:
        other = medians[name]
        print(
            f"  scenario / {name.split(':')[0].removeprefix('scenario, ')}: "
            f"{100 * scenario[0] / other[0]:.1f} % of the requests/s, "
            f"{100 * scenario[1] / other[1]:.1f} % of the requests per CPU-second{target_text}"
        )


# The suite's progress line: "12s/1m · users 20 · 4.2 req/s now · ok 40 errors 1 · ..." (older
# versions: "12s users=20 requests=41 ..."); users, and the requests of every outcome so far.
_PROGRESS = re.compile(r"^canvas-ai-harness load:\s+(?:progress\s+)?(.*)$", re.MULTILINE)
_OLD_FORM = re.compile(r"users=(\d+) requests=(\d+)")
_USERS = re.compile(r"^users (\d+)$")
_COUNT = re.compile(r"(?:^| )(?:ok|throttled|AI-503|contract|timeouts|redirects|errors) (\d+)")


def _progress(report: Path) -> tuple[int, int]:
    """The latest (users, requests) the locust process reported in its log."""
    found = (0, 0)
    with contextlib.suppress(FileNotFoundError):
        for match in _PROGRESS.finditer((report / "locust.log").read_text(errors="replace")):
            old = _OLD_FORM.search(match[1])
            parts = match[1].split(" · ")
            if old:
                found = (int(old[1]), int(old[2]))
            elif len(parts) >= 4 and (users := _USERS.match(parts[1])):
                found = (int(users[1]), sum(int(n) for n in _COUNT.findall(parts[3])))
    return found


def many_students(steps: list[int], args: argparse.Namespace, scratch: Path) -> None:
    print(
        f"\nMany students, realistic think time: ONE locust process, mock AI latency {args.latency} ms, mock "
        f"keep-alive {args.keep_alive:g} s; once all are spawned, {args.settle:g} s to settle, then "
        f"{args.window:g} s measured"
    )
    print(
        f"  {'students':>8} {'spawned':>8} {'req/s':>8} {'connects/s':>10} {'locust CPU':>11} {'RSS MiB':>8} "
        f"{'failures':>9}  open files (locust)"
    )
    best = 0
    for users in steps:
        more = tuple(args.mock_option)
        with mock(args.latency, scratch, keep_alive=args.keep_alive, idle=users + 1000, more=more) as (target, _):
            report = scratch / f"students-{users}"
            report.mkdir()
            imports = "from canvas_ai_harness.load.locustfile import CommandLineShape, StudentUser, TeacherUser"
            locustfile = counting(scratch / f"students_{users}_locustfile.py", imports, report)
            patience = 3 * users / args.spawn_rate + 60  # spawning slows down when the process is busy
            extra = ["--teachers", "0", "--think-scale", "1", "--progress-every", "5", "--report-dir", str(report)]
            extra += ["--max-users", str(users)]
            run_time = patience + args.settle + args.window + 60
            process = locust(locustfile, target.base_url, users, args.spawn_rate, run_time, report, extra)
            deadline = time.monotonic() + patience
            while _progress(report)[0] < users and time.monotonic() < deadline and process.poll() is None:
                time.sleep(1)
            time.sleep(args.settle)  # past the first conversations, which all start together: a steady state
            first, opened = _progress(report), connects(report)
            began = time.monotonic()
            cpu = cpu_during([process], began, args.window)[0]
            last, closed = _progress(report), connects(report)
            rss = psutil.Process(process.pid).memory_info().rss / 2**20
            files = _open_files(process)
            process.send_signal(signal.SIGINT)  # stop now: users end, clean-up runs, the summary is written
            process.wait(timeout=900)
            totals = json.loads((report / "summary.json").read_text())["totals"]
            failures = 1 - totals["ok"] / max(totals["requests"], 1)
            rps = (last[1] - first[1]) / max(time.monotonic() - began, 1e-9)
            # The counter is written every second; a stale one (the process out of descriptors) says nothing.
            churn = f"{(closed[1] - opened[1]) / (closed[0] - opened[0]):.1f}" if closed[0] > opened[0] else "n/a"
            spawned = last[0]
            print(
                f"  {users:>8} {spawned:>8} {rps:>8.1f} {churn:>10} {cpu:>10.1f}% {rss:>8.0f} "
                f"{100 * failures:>8.2f}%  {files}"
            )
            not_ok = {k: totals[k] for k in ("throttled", "ai_unavailable", "contract", "timeout", "redirect", "error")}
            if any(not_ok.values()):
                print(f"           not ok: {', '.join(f'{k} {v}' for k, v in not_ok.items() if v)}")
            if cpu < 90 and spawned >= users and failures < 0.01:
                best = max(best, users)
            else:
                break
    print(f"  largest number of students held below 90 % CPU and 1 % failures: {best}   (target: 25,000)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="users for the throughput runs")
    parser.add_argument("--seconds", type=float, default=20, help="length of each throughput run")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs of each kind (medians); 0: skip")
    parser.add_argument("--students", default="25000", help="student counts, ascending, comma-separated; '': skip")
    parser.add_argument("--spawn-rate", type=float, default=400, help="users started per second (many students)")
    parser.add_argument("--settle", type=float, default=120, help="seconds after spawning before measuring")
    parser.add_argument("--window", type=float, default=60, help="seconds of CPU measuring (many students)")
    parser.add_argument("--latency", default="1000:250", help="the mock's AI latency with many students")
    parser.add_argument("--keep-alive", type=float, default=75, help="seconds the mock keeps an idle connection")
    parser.add_argument("--files", type=int, default=65_536, help="open-file limit of the mock and locust")
    parser.add_argument("--nice", type=int, default=0, help="niceness of the mock and locust (root: below 0)")
    parser.add_argument("--pin", action="store_true", help="pin the mock to core 1 and locust to core 0 (taskset)")
    parser.add_argument(
        "--mock-option",
        action="append",
        default=[],
        help="one more option for the many-students mock, e.g. --mock-option=--max-stored-bytes=268435456 "
        "(past about 40,000 students the default budget evicts open conversations: their posts get 404)",
    )
    parser.add_argument(
        "--compare", type=Path, default=None, help="a checkout (e.g. `git worktree add`) whose scenario runs too"
    )
    args = parser.parse_args()
    global FILES, NICE, PIN
    FILES, NICE, PIN = args.files, args.nice, args.pin
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (shared machine: CPU % vary with it)")
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
        if args.repeat > 0:
            throughput(args.users, args.seconds, args.repeat, Path(scratch), args.compare)
        steps = [int(s) for s in args.students.split(",") if s.strip()]
        if steps:
            many_students(steps, args, Path(scratch))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
