"""The latency the spec-checking proxy adds per request, and its requests/s ceiling.

    python bench/proxy_latency.py [--requests 3000] [--duration 10] [--connections 16] [--no-wrk]

Starts the mock Canvas and the proxy (``canvas-ai-harness proxy --upstream``) as processes of
their own on 127.0.0.1, gives the student an active conversation (a 4-message transcript, so
each answer is ~1.1 KB of JSON the proxy checks against the schema), then:

1. latency: a generator in another process sends requests one at a time over a kept-alive
   connection, alternating direct-to-mock and through-the-proxy (which goes first alternates
   too), so both see the same machine state; it prints the median and p99 of each and of the
   per-pair difference, for two operations:
   - ``GET .../conversations`` (getActiveConversation, the 4-message transcript);
   - ``POST .../conversations/:id/messages`` (postMessage, a JSON body; the answer is the
     whole transcript, 4 to 10 messages: a fresh conversation every 2 pairs, created directly
     and not timed);
2. ceiling: ``wrk`` (``apt-get install wrk``) with many connections on the GET, against the
   mock directly, then through the proxy; the proxy is pinned to CPU 0, the mock and wrk to CPU
   1 (on two cores or more), so the proxy's own work sets its ceiling. The proxy's CPU time
   (user + system, from ``/proc`` through psutil) divided by the requests wrk completed gives
   its CPU per request; the mock's likewise for the direct run.

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


POSTS_PER_CONVERSATION = 2  # pairs of posts (4 posts), so the transcript answered grows 4, 6, 8, 10 messages
JSON_HEADERS = HEADERS | {"Content-Type": "application/json"}


def _timed(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> float:
    start = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status not in (200, 201):
        raise RuntimeError(f"{method} {path} answered {response.status}")
    return elapsed


def generate(direct: str, proxied: str, requests: int, warmup: int, operation: str) -> dict[str, dict[str, float]]:
    """The generator process: alternate direct and proxied requests; return latency figures in ms."""
    connections = {}
    for name, url in (("direct", direct), ("proxy", proxied)):
        host, port = url.removeprefix("http://").split(":")
        connections[name] = http.client.HTTPConnection(host, int(port))
    samples: dict[str, list[float]] = {"direct": [], "proxy": []}
    path, body, headers, method = PATH, None, HEADERS, "GET"
    for i in range(warmup + requests):
        if operation == "post":
            if i % POSTS_PER_CONVERSATION == 0:  # a fresh conversation, created directly, not timed
                conn = connections["direct"]
                conn.request("POST", PATH, headers=HEADERS)
                conversation = json.loads(conn.getresponse().read())["id"]
                path, method, headers = f"{PATH}/{conversation}/messages", "POST", JSON_HEADERS
            body = json.dumps({"message": f"Question {i}: how do plants use light to make sugar?"}).encode()
        order = ("direct", "proxy") if i % 2 == 0 else ("proxy", "direct")
        for name in order:
            elapsed = _timed(connections[name], method, path, body, headers)
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
    parser.add_argument("--generate", nargs=3, metavar=("DIRECT", "PROXY", "OPERATION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:  # the generator process
        direct, proxied, operation = args.generate
        print(json.dumps(generate(direct, proxied, args.requests, args.warmup, operation)))
        return 0

    global PIN
    PIN = not args.no_pin
    cli = [sys.executable, "-m", "canvas_ai_harness"]
    with tempfile.TemporaryDirectory() as tmp:
        mock_command = [*_pin(1), *cli, "mock", "--port", "0"]
        with _process(mock_command, r"listening on (http://\S+)", "stdout") as (mock, mock_process):
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
                latency: dict[str, dict[str, dict[str, float]]] = {}
                cpu_per_request: dict[str, float] = {}
                for operation in ("get", "post"):
                    generator = [
                        sys.executable,
                        __file__,
                        "--generate",
                        mock,
                        proxy,
                        operation,
                        "--requests",
                        str(args.requests),
                        "--warmup",
                        str(args.warmup),
                    ]
                    cpu_before = _cpu(proxy_process)
                    run = subprocess.run(generator, capture_output=True, text=True, check=True)
                    latency[operation] = json.loads(run.stdout)
                    cpu_per_request[operation] = (
                        (_cpu(proxy_process) - cpu_before) / (args.requests + args.warmup) * 1000
                    )
                ceiling: dict[str, dict[str, float]] = {}
                if not args.no_wrk and shutil.which("wrk"):
                    for name, url, process in (("direct", mock, mock_process), ("proxy", proxy, proxy_process)):
                        cpu_before, wall_before = _cpu(process), time.perf_counter()
                        ceiling[name] = _wrk(url, args.duration, args.connections)
                        used = _cpu(process) - cpu_before
                        ceiling[name]["busy"] = used / (time.perf_counter() - wall_before)
                        ceiling[name]["cpu_ms"] = used / (ceiling[name]["rps"] * args.duration) * 1000
                elif not args.no_wrk:
                    print("wrk not found (apt-get install wrk): skipping the requests/s ceiling", file=sys.stderr)
                load_after = os.getloadavg()

    titles = {
        "get": f"GET {PATH} (getActiveConversation, 4 messages)",
        "post": f"POST {PATH}/:id/messages (postMessage, JSON body; answers of 4-10 messages)",
    }
    for operation, figures in latency.items():
        print(f"{titles[operation]}, {args.requests} sequential requests per side, keep-alive")
        print(f"{'':>8} {'median ms':>10} {'p99 ms':>8}")
        for name in ("direct", "proxy", "added"):
            print(f"{name:>8} {figures[name]['median']:>10.3f} {figures[name]['p99']:>8.3f}")
        print(f"proxy process CPU per request (user + system): {cpu_per_request[operation]:.3f} ms")
    for name, figures in ceiling.items():
        print(
            f"wrk GET {args.connections} connections, {args.duration} s, {name:>6}: {figures['rps']:>8.0f} requests/s, "
            f"median {figures.get('50%', float('nan')):.2f} ms, p99 {figures.get('99%', float('nan')):.2f} ms, "
            f"non-2xx {figures['non_2xx']:.0f}; "
            f"{'the proxy' if name == 'proxy' else 'the mock'} used {figures['busy']:.0%} of a core, "
            f"{figures['cpu_ms']:.3f} ms CPU per request"
        )
    if len(ceiling) == 2:
        print(f"ceiling: the proxy's requests/s are {ceiling['proxy']['rps'] / ceiling['direct']['rps']:.1%} of direct")
    print(f"load average before: {load_before[0]:.2f}, after: {load_after[0]:.2f}; cores: {os.cpu_count()}")
    return 0


def _cpu(process: psutil.Process) -> float:
    """Seconds of CPU (user + system) the process has used."""
    times = process.cpu_times()
    return float(times.user + times.system)


if __name__ == "__main__":
    sys.exit(main())
