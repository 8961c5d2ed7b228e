"""The latency the spec-checking proxy adds per request, and its requests/s ceiling.

    python bench/proxy_latency.py [--requests 3000] [--duration 10] [--connections 16] [--no-wrk]

Starts the mock Canvas and the proxy (``canvas-ai-harness proxy --upstream``) as processes of
their own on 127.0.0.1, gives the student an active conversation (a 4-message transcript, so
each answer is ~1.7 KB of JSON the proxy checks against the schema), then:

1. latency: a generator in another process sends ``GET .../conversations`` one at a time over
   a kept-alive connection, alternating direct-to-mock and through-the-proxy, so both see the
   same machine state; it prints the median and p99 of each and of the per-pair difference;
2. ceiling: ``wrk`` (``apt-get install wrk``) with many connections against the mock directly,
   then through the proxy; the proxy is pinned to CPU 0, the mock and wrk to CPU 1 (on two
   cores or more), so the proxy's own work sets its ceiling.

Figures, not a test. Exit status 0 when the run completed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import psutil

PATH = "/api/v1/courses/101/ai_experiences/7/conversations"
TOKEN = "mock-student-token"  # the default world's student (mock only)
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


PIN = True  # --no-pin clears it: on a machine busy with other work, pinning can starve the proxy


def _pin(cpu: int) -> list[str]:
    cores = os.cpu_count() or 1
    return ["taskset", "-c", str(cpu % cores)] if PIN and shutil.which("taskset") and cores >= 2 else []


@contextlib.contextmanager
def _process(command: list[str], ready: str, stream: str) -> Iterator[tuple[str, psutil.Process]]:
    """Start ``command``; wait for a line matching ``ready`` (a regex with one URL group); yield URL and process."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pipe = process.stdout if stream == "stdout" else process.stderr
        assert pipe is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = pipe.readline()
            match = re.search(ready, line)
            if match:
                yield match.group(1), psutil.Process(process.pid)
                break
            if not line and process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: {process.stderr.read() if process.stderr else ''}")
        else:
            raise RuntimeError(f"{' '.join(command)} did not start within 30 s")
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=10)
        if process.poll() is None:
            process.kill()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def generate(direct: str, proxied: str, requests: int, warmup: int) -> dict[str, dict[str, float]]:
    """The generator process: alternate direct and proxied GETs; return latency figures in ms."""
    connections = {}
    for name, url in (("direct", direct), ("proxy", proxied)):
        host, port = url.removeprefix("http://").split(":")
        connections[name] = http.client.HTTPConnection(host, int(port))
    samples: dict[str, list[float]] = {"direct": [], "proxy": []}
    for i in range(warmup + requests):
        for name, conn in connections.items():
            start = time.perf_counter()
            conn.request("GET", PATH, headers=HEADERS)
            response = conn.getresponse()
            response.read()
            elapsed = (time.perf_counter() - start) * 1000
            if response.status != 200:
                raise RuntimeError(f"{name} answered {response.status}")
            if i >= warmup:
                samples[name].append(elapsed)
    added = [p - d for d, p in zip(samples["direct"], samples["proxy"], strict=True)]
    out = {name: {"median": statistics.median(v), "p99": _percentile(v, 0.99)} for name, v in samples.items()}
    out["added"] = {"median": statistics.median(added), "p99": _percentile(added, 0.99)}
    return out


def _wrk(url: str, duration: int, connections: int) -> dict[str, float]:
    command = [
        *_pin(1),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-H",
        f"Authorization: Bearer {TOKEN}",
        url + PATH,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures = {"rps": rps, "non_2xx": float(errors.group(1)) if errors else 0.0}
    for label in ("50%", "99%"):
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
        if match:
            value, unit = float(match.group(1)), match.group(2)
            figures[label] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="latency samples per side")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--no-wrk", action="store_true", help="skip the requests/s ceiling")
    parser.add_argument("--no-pin", action="store_true", help="let the scheduler place every process")
    parser.add_argument("--generate", nargs=2, metavar=("DIRECT", "PROXY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:  # the generator process
        print(json.dumps(generate(*args.generate, args.requests, args.warmup)))
        return 0

    global PIN
    PIN = not args.no_pin
    cli = [sys.executable, "-m", "canvas_ai_harness"]
    with tempfile.TemporaryDirectory() as tmp:
        mock_command = [*_pin(1), *cli, "mock", "--port", "0"]
        with _process(mock_command, r"listening on (http://\S+)", "stdout") as (mock, _):
            conn = http.client.HTTPConnection(*mock.removeprefix("http://").split(":"))
            conn.request("POST", PATH, headers=HEADERS)
            conversation = json.loads(conn.getresponse().read())["id"]
            conn.request(
                "POST",
                f"{PATH}/{conversation}/messages",
                body="message=Plants+use+light",
                headers=HEADERS | {"Content-Type": "application/x-www-form-urlencoded"},
            )
            conn.getresponse().read()
            conn.close()
            proxy_command = [*_pin(0), *cli, "proxy", "--upstream", mock, "--port", "0", "--report", f"{tmp}/r.json"]
            with _process(proxy_command, r"Proxy on (http://\S+)", "stderr") as (proxy, proxy_process):
                load_before = os.getloadavg()
                generator = [
                    sys.executable,
                    __file__,
                    "--generate",
                    mock,
                    proxy,
                    "--requests",
                    str(args.requests),
                    "--warmup",
                    str(args.warmup),
                ]
                cpu_before = sum(proxy_process.cpu_times()[:2])
                latency = json.loads(subprocess.run(generator, capture_output=True, text=True, check=True).stdout)
                cpu_per_request = (
                    (sum(proxy_process.cpu_times()[:2]) - cpu_before) / (args.requests + args.warmup) * 1000
                )
                ceiling: dict[str, dict[str, float]] = {}
                if not args.no_wrk and shutil.which("wrk"):
                    ceiling["direct"] = _wrk(mock, args.duration, args.connections)
                    cpu_before, wall_before = sum(proxy_process.cpu_times()[:2]), time.perf_counter()
                    ceiling["proxy"] = _wrk(proxy, args.duration, args.connections)
                    busy = (sum(proxy_process.cpu_times()[:2]) - cpu_before) / (time.perf_counter() - wall_before)
                    ceiling["proxy"]["busy"] = busy
                elif not args.no_wrk:
                    print("wrk not found (apt-get install wrk): skipping the requests/s ceiling", file=sys.stderr)

    print(f"GET {PATH} (active conversation, 4 messages), {args.requests} sequential requests per side, keep-alive")
    print(f"{'':>8} {'median ms':>10} {'p99 ms':>8}")
    for name in ("direct", "proxy", "added"):
        print(f"{name:>8} {latency[name]['median']:>10.3f} {latency[name]['p99']:>8.3f}")
    for name, figures in ceiling.items():
        print(
            f"wrk {args.connections} connections, {args.duration} s, {name:>6}: {figures['rps']:>8.0f} requests/s, "
            f"median {figures.get('50%', float('nan')):.2f} ms, p99 {figures.get('99%', float('nan')):.2f} ms, "
            f"non-2xx {figures['non_2xx']:.0f}"
            + (f"; the proxy used {figures['busy']:.0%} of a core" if "busy" in figures else "")
        )
    print(f"proxy process CPU per request (user + system): {cpu_per_request:.2f} ms")
    print(f"load average before: {load_before[0]:.2f}, cores: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
