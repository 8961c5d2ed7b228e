"""The mock Canvas over HTTP: a thin Starlette layer over ``CanvasService``.

Every request outside ``/__harness__/`` goes to the service unchanged: no Starlette routing
(Canvas answers unknown routes and methods with its own 404, not 405). ``/__harness__/`` holds
a few control routes for tests and load runs: health, reset, calls, stats, and creating
students. They are not part of Canvas's API.
"""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from canvas_ai_harness.canvas import bodies
from canvas_ai_harness.mock.api import JSON_TYPE, ApiRequest, ApiResponse
from canvas_ai_harness.mock.service import CanvasService
from canvas_ai_harness.serving import ClientLeft, heap_frozen, read_body

__all__ = ["create_app"]

CONTROL_PREFIX = "/__harness__"


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by (lower-case) name; the first of repeated headers wins, as in Starlette."""
    raw = scope["headers"]
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}
    if len(headers) != len(raw):  # a repeated header: there the last won, and the first must
        headers = {}
        for raw_name, raw_value in raw:
            name = raw_name.decode("latin-1")
            if name not in headers:
                headers[name] = raw_value.decode("latin-1")
    return headers


_JSON_TYPE = JSON_TYPE.encode("latin-1")


async def _send(response: ApiResponse, send: Send) -> None:
    """Send ``response`` with the headers a Starlette ``Response`` would send, minus its overhead."""
    status = response.status
    if not response.headers and response.content_type == JSON_TYPE and 200 <= status < 300 and status != 204:
        # Most answers: no header of the service's own, a JSON body (the same headers as below).
        headers = [(b"content-length", b"%d" % len(response.body)), (b"content-type", _JSON_TYPE)]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
        return
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
        if name.lower() != "content-type"
    ]
    if not (status < 200 or status in (204, 304)) and all(name != b"content-length" for name, _ in headers):
        headers.append((b"content-length", str(len(response.body)).encode("latin-1")))
    headers.append((b"content-type", response.content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


class _MockApp(Starlette):
    """Starlette serving the control routes; every other HTTP request goes straight to ``canvas``.

    Canvas's routes skip Starlette's middleware and router: they gain nothing from them (the
    service answers every error itself) and cost a third of a request's time under load.
    """

    def __init__(self, canvas: ASGIApp, routes: list[Route]) -> None:
        super().__init__(routes=routes)
        self.router.default = canvas  # paths under CONTROL_PREFIX that match no control route
        self._canvas = canvas

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(CONTROL_PREFIX):
            await self._canvas(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(service: CanvasService) -> Starlette:
    """Build the ASGI app serving ``service``; ``app.state.service`` holds it."""

    async def canvas(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = _headers(scope)
        try:
            body = await read_body(headers, receive, service.config.max_body_bytes)
        except ClientLeft:
            return
        if body is None:
            # Answered before the body is read; the server discards the rest as it arrives (within
            # the read timeout), so a client still sending sees this answer instead of a reset.
            payload = json.dumps(bodies.PAYLOAD_TOO_LARGE).encode()
            await _send(ApiResponse(413, payload), send)
            return
        client = scope.get("client")
        api_request = ApiRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("utf-8", "replace"),
            headers=headers,
            body=body,
            client=client[0] if client else "unknown",
        )
        response = service.handle(api_request)
        if response.delay:
            await asyncio.sleep(response.delay)
        await _send(service.finish(response), send)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "profile": service.profile.name})

    async def reset(request: Request) -> JSONResponse:
        service.reset()
        return JSONResponse({"ok": True})

    async def calls(request: Request) -> JSONResponse:
        return JSONResponse(
            [{"method": c.method, "path": c.path, "status": c.status, "user_id": c.user_id} for c in service.calls]
        )

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "conversations": len(service.store),
                "active_conversations": service.store.active_count,
                "evicted": service.store.evicted,
                "stored_bytes": service.store.stored_bytes,
                "students_added": service.world.added_students,
                "calls_recorded": len(service.calls),
            }
        )

    async def students(request: Request) -> JSONResponse:
        """Create N more students in a course: ``POST /__harness__/students?count=N&course_id=101``."""
        try:
            count = int(request.query_params.get("count", "1"))
            course_id = int(request.query_params.get("course_id", "101"))
        except ValueError:
            return JSONResponse({"error": "count and course_id must be integers"}, status_code=400)
        if not 1 <= count <= 100_000 or course_id not in service.world.courses:
            return JSONResponse(
                {"error": "count must be 1..100000 and course_id a course of the world"}, status_code=400
            )
        budget = service.config.max_students
        if service.world.added_students + count > budget:
            left = budget - service.world.added_students
            message = f"at most {budget} students may be added in total (--max-students); {left} left until a reset"
            return JSONResponse({"error": message}, status_code=400)
        users = service.world.add_students(course_id, count)
        if heap_frozen():  # a mock serving in the foreground: the students live as long as it does
            gc.freeze()
        body: list[dict[str, Any]] = [{"id": u.id, "token": u.token} for u in users]
        return JSONResponse(body)

    app = _MockApp(
        canvas,
        routes=[
            Route(f"{CONTROL_PREFIX}/health", health, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/reset", reset, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/calls", calls, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/stats", stats, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/students", students, methods=["POST"]),
        ],
    )
    app.state.service = service
    return app
