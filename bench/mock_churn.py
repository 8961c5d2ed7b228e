"""The mock's memory under churn and abuse, with default options: RSS must be flat after warm-up.

    python bench/mock_churn.py                      # 3 minutes of churn, then the abuse figures
    python bench/mock_churn.py --duration 60 --no-abuse

Starts ``canvas-ai-harness mock --port 0`` (default options, nothing else) in a subprocess and
drives it over HTTP from this one: ``--workers`` threads, each a student taking turns to create a
conversation, post messages into it (one in ``--long-every`` is ``--long-kib`` KiB, the rest a
short sentence), and end it; every ``--new-students-every`` conversations a worker asks the
control route for a fresh student. The mock's RSS (its process only) is sampled every
``--sample`` seconds and printed as a curve with the store's figures (``/__harness__/stats``).

Then, unless ``--no-abuse``, against the same process:

- header flood: one connection sends ``--flood-mib`` MiB of headers; RSS before and after, and
  what the mock answered;
- slowloris: a request announcing 10 bytes of body and sending none; the time until the mock
  answers or closes;
- idle connections: ``--idle`` connections that never send anything; whether a new client is
  still served, and RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx
import psutil  # type: ignore[import-untyped]

BASE = "/api/v1/courses/101/ai_experiences/7/conversations"
SHORT = "I think the leaf turns sunlight into sugar"


@dataclass
class Counts:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1


def _start_mock() -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "canvas_ai_harness", "mock", "--port", "0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANVAS_AI_")}  # default options only
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            threading.Thread(target=lambda: [None for _ in process.stdout or ()], daemon=True).start()
            return process, found.group(1)
    raise SystemExit("the mock did not start")


def _worker(url: str, stop: threading.Event, counts: Counts, args: argparse.Namespace, seed: int) -> None:
    rng = random.Random(seed)
    long_text = "L" * (args.long_kib * 1024)
    with httpx.Client(base_url=url, timeout=60) as http:
        token = "mock-student-token" if seed == 0 else _new_student(http, counts)
        conversations = 0
        while not stop.is_set():
            try:
                headers = {"Authorization": f"Bearer {token}"}
                created = http.post(BASE, headers=headers)
                counts.add(created.status_code)
                cid = created.json().get("id")
                for _ in range(args.posts):
                    long = args.long_every > 0 and rng.randrange(args.long_every) == 0
                    text = long_text if long else SHORT
                    posted = http.post(f"{BASE}/{cid}/messages", json={"message": text}, headers=headers)
                    counts.add(posted.status_code)
                counts.add(http.delete(f"{BASE}/{cid}", headers=headers).status_code)
                conversations += 1
                if conversations % args.new_students_every == 0:
                    token = _new_student(http, counts) or token
            except httpx.HTTPError:
                with counts.lock:
                    counts.errors += 1


def _new_student(http: httpx.Client, counts: Counts) -> str:
    answer = http.post("/__harness__/students", params={"count": 1})
    counts.add(answer.status_code)
    return str(answer.json()[0]["token"]) if answer.status_code == 200 else "mock-student-token"


def _mib(process: psutil.Process) -> float:
    return float(process.memory_info().rss) / 2**20


def churn(url: str, mock: psutil.Process, args: argparse.Namespace) -> None:
    counts = Counts()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_worker, args=(url, stop, counts, args, n), daemon=True) for n in range(args.workers)
    ]
    print(
        f"churn: {args.workers} workers, {args.posts} posts per conversation, 1 in {args.long_every} of "
        f"{args.long_kib} KiB, a new student every {args.new_students_every} conversations, {args.duration:g} s"
    )
    print(
        f"{'t (s)':>6} {'RSS (MiB)':>10} {'stored (MiB)':>13} {'conversations':>14} {'evicted':>9} "
        f"{'students':>9} {'requests':>9}"
    )
    started = time.monotonic()
    for thread in threads:
        thread.start()
    with httpx.Client(base_url=url, timeout=60) as http:
        while True:
            elapsed = time.monotonic() - started
            stats = http.get("/__harness__/stats").json()
            print(
                f"{elapsed:6.0f} {_mib(mock):10.1f} {stats['stored_bytes'] / 2**20:13.1f} "
                f"{stats['conversations']:14,} {stats['evicted']:9,} {stats['students_added']:9,} "
                f"{counts.requests:9,}",
                flush=True,
            )
            if elapsed >= args.duration:
                break
            time.sleep(min(args.sample, max(0.0, args.duration - elapsed)))
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    print(f"answers: {dict(sorted(counts.statuses.items()))}; client errors: {counts.errors}")


def header_flood(host: str, port: int, mock: psutil.Process, mib: int) -> None:
    before = _mib(mock)
    sent = 0
    line = b"X-Flood: " + b"a" * 1000 + b"\r\n"
    answer = b""
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(b"GET " + BASE.encode() + b" HTTP/1.1\r\nHost: x\r\n")
        try:
            while sent < mib * 2**20:
                sock.sendall(line * 64)
                sent += len(line) * 64
        except OSError as exc:
            answer = f"({type(exc).__name__} after {sent / 2**20:.2f} MiB sent) ".encode()
        try:
            answer += sock.recv(200).split(b"\r\n")[0]
        except OSError as exc:
            answer += f"no answer ({type(exc).__name__})".encode()
    print(
        f"header flood: {sent / 2**20:.2f} of {mib} MiB sent on one connection; RSS {before:.1f} -> "
        f"{_mib(mock):.1f} MiB; the mock: {answer.decode('latin-1')}"
    )


def slowloris(host: str, port: int) -> None:
    with socket.create_connection((host, port), timeout=600) as sock:
        head = f"POST {BASE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n"
        sock.sendall(head.encode())
        started = time.monotonic()
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    status = data.split(b"\r\n")[0].decode("latin-1") or "closed without an answer"
    print(f"slowloris: 10 bytes announced, none sent: {status} and closed after {time.monotonic() - started:.1f} s")


def idle_flood(url: str, host: str, port: int, mock: psutil.Process, count: int) -> None:
    before = _mib(mock)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(socket.create_connection((host, port), timeout=60))
        with httpx.Client(base_url=url, timeout=60) as http:
            status = http.get(BASE, headers={"Authorization": "Bearer mock-student-token"}).status_code
        open_now = len(mock.net_connections(kind="tcp"))
        print(
            f"idle connections: {count:,} opened, none sends; a new client then got {status}; the mock holds "
            f"{open_now:,} TCP sockets; RSS {before:.1f} -> {_mib(mock):.1f} MiB"
        )
    finally:
        for sock in sockets:
            sock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of churn")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--posts", type=int, default=4, help="messages posted into each conversation")
    parser.add_argument("--long-every", type=int, default=8, help="one post in N is long (0: none)")
    parser.add_argument("--long-kib", type=int, default=256, help="a long message's size")
    parser.add_argument("--new-students-every", type=int, default=5, help="conversations per student")
    parser.add_argument("--no-abuse", action="store_true", help="skip the flood, slowloris and idle figures")
    parser.add_argument("--flood-mib", type=int, default=500)
    parser.add_argument("--idle", type=int, default=5_000, help="idle connections to open")
    args = parser.parse_args(argv)

    print(
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs; "
        f"Python {sys.version.split()[0]}"
    )
    process, url = _start_mock()
    try:
        mock = psutil.Process(process.pid)
        print(f"mock at {url} (pid {process.pid}), default options; RSS at start {_mib(mock):.1f} MiB")
        churn(url, mock, args)
        if not args.no_abuse:
            host, port = url.removeprefix("http://").rsplit(":", 1)
            header_flood(host, int(port), mock, args.flood_mib)
            slowloris(host, int(port))
            idle_flood(url, host, int(port), mock, args.idle)
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        with httpx.Client(base_url=url, timeout=60) as http:
            print("final stats:", json.dumps(http.get("/__harness__/stats").json()))
    finally:
        process.terminate()
        process.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
