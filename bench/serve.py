"""Serve one app for the throughput benchmark, in the foreground of its own process.

``python bench/serve.py --app mock --server uvicorn --port 8099`` serves the mock Canvas exactly
as ``canvas-ai-harness mock`` does (``MockServer``: Starlette on uvicorn, which picks httptools
and uvloop when installed), after filling it with load students and their conversations. ``--app
minimal`` serves a small Starlette app (``GET /ok`` answers ``{"ok": true}``, ``POST /ok`` parses a
JSON body first) on the mock's very stack (``serving.UvicornServer`` with its connection limits):
the ceiling the mock is compared with; ``--plain`` serves it on plain uvicorn instead (the
benchmark's earlier baseline). ``--server granian`` swaps uvicorn for
granian's embedded server (one Python event loop, one Rust I/O thread), for both apps.

The conversations are built in-process through ``CanvasService.respond`` before the socket
opens. ``--map`` receives one ``<kind> <token> <conversation id>`` line per student: ``post``
students own a fresh conversation (2 messages) each, ``get`` students one of 10 messages.
``mock_throughput.py`` starts this script; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from canvas_ai_harness.budgets import KEEP_ALIVE_S
from canvas_ai_harness.mock import ApiRequest, CanvasService, MockConfig, MockServer
from canvas_ai_harness.mock.app import create_app
from canvas_ai_harness.serving import UvicornServer

COURSE, EXPERIENCE = 101, 7
CONVERSATIONS = f"/api/v1/courses/{COURSE}/ai_experiences/{EXPERIENCE}/conversations"
MESSAGE = "I think the leaf turns sunlight into sugar"
# uvicorn settings of MockServer (serving.UvicornServer) for --plain and granian, minus its connection limits.
UVICORN_OPTIONS: dict[str, Any] = {
    "log_level": "warning",
    "access_log": False,
    "lifespan": "off",
    "timeout_keep_alive": KEEP_ALIVE_S,
}


def minimal_app() -> Starlette:
    """The smallest Starlette app that still routes and serialises JSON.

    ``GET /ok`` answers ``{"ok": true}``; ``POST /ok`` reads and parses a JSON body (postMessage's)
    first, then answers the same: the least a POST endpoint does.
    """

    async def ok(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def ok_post(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"ok": isinstance(body, dict)})

    return Starlette(routes=[Route("/ok", ok, methods=["GET"]), Route("/ok", ok_post, methods=["POST"])])


def _conversation(service: CanvasService, token: str, posts: int) -> int:
    """Create a conversation for ``token`` and post ``posts`` messages into it; return its id."""
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    created = service.respond(ApiRequest("POST", CONVERSATIONS, headers=headers))
    assert created.status == 201, created.body
    cid = int(created.json()["id"])
    body = json.dumps({"message": MESSAGE}).encode()
    for _ in range(posts):
        posted = service.respond(ApiRequest("POST", f"{CONVERSATIONS}/{cid}/messages", headers=headers, body=body))
        assert posted.status == 200, posted.body
    return cid


def fill(service: CanvasService, conversations: int, students: int = 1_000) -> None:
    """Store ``conversations`` more conversations of 10 messages, ``students`` students taking turns.

    Each student's next conversation completes its previous one, as in ``bench/mock_memory.py``:
    the heap a long load run leaves behind, which every full garbage collection walks.
    """
    users = service.world.add_students(COURSE, min(students, max(conversations, 1)))
    for n in range(conversations):
        _conversation(service, users[n % len(users)].token, 4)


def populate(service: CanvasService, post_students: int, get_students: int, map_path: Path, stored: int = 0) -> None:
    """Create the load students and their conversations; write who owns which conversation.

    ``stored``: fill the store with 10-message conversations up to that many in all, first.
    """
    fill(service, max(0, stored - post_students - get_students))
    lines: list[str] = []
    for kind, count, posts in (("post", post_students, 0), ("get", get_students, 4)):
        if count:
            for user in service.world.add_students(COURSE, count):
                lines.append(f"{kind} {user.token} {_conversation(service, user.token, posts)}")
    map_path.write_text("\n".join(lines) + "\n")
    # the load run would otherwise count these set-up calls in the call log and stats
    service.calls.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", choices=["mock", "minimal"], required=True)
    parser.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="minimal app on plain uvicorn (no connection limits) rather than serving.UvicornServer, the mock's stack",
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--post-students", type=int, default=0, help="students with a fresh conversation each")
    parser.add_argument("--get-students", type=int, default=0, help="students with a 10-message conversation each")
    parser.add_argument("--map", type=Path, default=None, help="where to write '<kind> <token> <id>' lines")
    parser.add_argument("--stored", type=int, default=0, help="fill the store to this many conversations in all")
    args = parser.parse_args(argv)

    if args.app == "mock":
        # Room for every conversation the benchmark makes: an eviction would turn posts into 404s.
        config = MockConfig(max_stored_bytes=2**40)
        mock = MockServer(config, port=args.port) if args.server == "uvicorn" else None
        service = mock.service if mock is not None else CanvasService(config)
        if args.map is not None:
            populate(service, args.post_students, args.get_students, args.map, args.stored)
        if mock is not None:
            mock.serve_forever()  # the very path of `canvas-ai-harness mock`
            return 0
        app: Any = create_app(service)
    else:
        app = minimal_app()
        if args.server == "uvicorn" and not args.plain:
            # The mock's own stack: UvicornServer with its default ConnectionLimits (the bounded
            # httptools protocol), its heap frozen as MockServer.serve_forever freezes it.
            UvicornServer(app, port=args.port, lifespan="off").serve_forever()
            return 0

    if args.server == "uvicorn":
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=args.port, **UVICORN_OPTIONS)
    else:
        import uvloop
        from granian.constants import Interfaces
        from granian.log import LogLevels
        from granian.server.embed import Server

        server = Server(
            app, address="127.0.0.1", port=args.port, interface=Interfaces.ASGINL, log_level=LogLevels.warning
        )
        uvloop.run(server.serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
