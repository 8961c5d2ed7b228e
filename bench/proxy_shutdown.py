"""How long the proxy takes to stop on Ctrl-C while its upstream hangs, and what it reports.

    python bench/proxy_shutdown.py [--requests 3] [--upstream-timeout 600]

Starts a hung upstream (it accepts connections and never answers) and ``canvas-ai-harness proxy
--upstream`` in front of it, sends ``--requests`` requests through the proxy, waits until each
has reached the upstream, sends SIGINT, and prints the seconds until the proxy exited, its exit
code and the report's upstream failures. The upstream timeout is far longer than the stop may
take, so the figure is the shutdown's own.

Figures, not a test. Exit status 0 when the run completed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

PATH = "/api/v1/courses/101/ai_experiences/7/conversations"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3)
    parser.add_argument("--upstream-timeout", type=float, default=600.0)
    args = parser.parse_args()

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen()
    accepted: list[socket.socket] = []
    arrived = threading.Semaphore(0)

    def accept() -> None:
        while True:
            try:
                connection, _ = hung.accept()
            except OSError:
                return
            accepted.append(connection)
            arrived.release()

    threading.Thread(target=accept, daemon=True).start()
    report = Path(tempfile.mkdtemp()) / "report.json"
    command = [sys.executable, "-m", "canvas_ai_harness", "proxy", "--port", "0", "--report", str(report)]
    command += ["--upstream", f"http://127.0.0.1:{hung.getsockname()[1]}"]
    command += ["--upstream-timeout", str(args.upstream_timeout)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proxy:
        assert proxy.stderr is not None
        match = re.search(r"Proxy on (http://\S+)", proxy.stderr.readline())
        if match is None:
            proxy.kill()
            print("the proxy did not start", file=sys.stderr)
            return 1
        arrived.acquire(timeout=60)  # check_upstream's probe connection
        for _ in range(args.requests):
            url = f"{match.group(1)}{PATH}"
            threading.Thread(target=_get, args=(url, args.upstream_timeout), daemon=True).start()
        for _ in range(args.requests):
            arrived.acquire(timeout=60)
        started = time.monotonic()
        proxy.send_signal(signal.SIGINT)
        proxy.communicate(timeout=args.upstream_timeout + 60)
        took = time.monotonic() - started
    hung.close()
    data = json.loads(report.read_text())
    print(f"requests waiting on a hung upstream: {args.requests}; --upstream-timeout {args.upstream_timeout:g} s")
    print(f"Ctrl-C to exit: {took:.2f} s; exit code {proxy.returncode}")
    print(f"upstream failures: {data['upstream_answers']['failures']}")
    print(f"verdict: {data['verdict']}")
    return 0


def _get(url: str, timeout: float) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(url, headers={"Authorization": "Bearer mock-student-token"}, timeout=timeout)


if __name__ == "__main__":
    raise SystemExit(main())
