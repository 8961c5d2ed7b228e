"""The mock's own cost per request, at the ASGI level: no socket, no HTTP parser, no server.

    python bench/mock_asgi.py [--requests 20000] [--profile]

Calls the mock's ASGI app (``mock/app.py``) directly with postMessage's and getActiveConversation's
scope and body, as uvicorn would, and prints the microseconds of CPU each takes; beside them the
minimal app's ``GET /ok`` and ``POST /ok`` of ``bench/serve.py``. What ``mock_throughput.py``
measures on top of these is the server's share. ``--profile`` prints a pyinstrument profile of
the postMessage loop (pyinstrument must be installed). Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from serve import CONVERSATIONS, MESSAGE, minimal_app, populate

from canvas_ai_harness.mock import CanvasService, MockConfig
from canvas_ai_harness.mock.app import create_app

POSTS_PER_CONVERSATION = 4
BODY = json.dumps({"message": MESSAGE}).encode()


def _scope(method: str, path: str, token: str | None, body: bytes) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")]
    if token:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _call(app: Any, scope: dict[str, Any], body: bytes) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _loop(requests: list[tuple[Any, dict[str, Any], bytes]]) -> float:
    """CPU microseconds per request over ``requests``; every answer must be a 2xx."""
    start = time.process_time()
    for app, scope, body in requests:
        status = await _call(app, scope, body)
        if not 200 <= status < 300:
            raise RuntimeError(f"{scope['method']} {scope['path']} answered {status}")
    return (time.process_time() - start) / len(requests) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests per scenario")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of postMessage")
    args = parser.parse_args(argv)

    service = CanvasService(MockConfig(max_stored_bytes=2**40))
    students = -(-args.requests // POSTS_PER_CONVERSATION)
    with tempfile.TemporaryDirectory() as tmp:
        mapping = Path(tmp) / "map.txt"
        populate(service, students, 1_000, mapping)
        lines = [line.split() for line in mapping.read_text().splitlines()]
    mock, minimal = create_app(service), minimal_app()
    posts = [(t, int(c)) for kind, t, c in lines if kind == "post"]
    gets = [t for kind, t, _ in lines if kind == "get"]
    post_requests = [
        (mock, _scope("POST", f"{CONVERSATIONS}/{posts[n // POSTS_PER_CONVERSATION][1]}/messages", t, BODY), BODY)
        for n in range(args.requests)
        for t in [posts[n // POSTS_PER_CONVERSATION][0]]
    ]
    scenarios: dict[str, Callable[[], Awaitable[float]]] = {
        "minimal GET": lambda: _loop([(minimal, _scope("GET", "/ok", None, b""), b"")] * args.requests),
        "minimal POST": lambda: _loop([(minimal, _scope("POST", "/ok", None, BODY), BODY)] * args.requests),
        "getActiveConversation": lambda: _loop(
            [(mock, _scope("GET", CONVERSATIONS, gets[n % len(gets)], b""), b"") for n in range(args.requests)]
        ),
    }
    print(f"mock at the ASGI level: {args.requests:,} requests per scenario, CPU microseconds per request")
    for name, run in scenarios.items():
        print(f"  {name:24} {asyncio.run(run()):7.1f} us")
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
        profiler.start()
        cost = asyncio.run(_loop(post_requests))
        profiler.stop()
    else:
        cost = asyncio.run(_loop(post_requests))
    print(f"  {'postMessage':24} {cost:7.1f} us")
    if args.profile:
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
