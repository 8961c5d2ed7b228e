"""The mock Canvas over HTTP: a thin Starlette layer over ``CanvasService``.

Every request outside ``/__harness__/`` goes to the service unchanged: no Starlette routing
(Canvas answers unknown routes and methods with its own 404, not 405). ``/__harness__/`` holds
a few control routes for tests and load runs: health, reset, calls, stats, and creating
students. They are not part of Canvas's API.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from canvas_ai_harness import rules
from canvas_ai_harness.mock.service import ApiRequest, ApiResponse, CanvasService

__all__ = ["create_app"]

CONTROL_PREFIX = "/__harness__"


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or ``None`` when it is longer than ``limit`` bytes (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _to_starlette(response: ApiResponse) -> Response:
    out = Response(response.body, status_code=response.status, headers=response.headers)
    out.headers["content-type"] = response.content_type
    return out


def create_app(service: CanvasService) -> Starlette:
    """Build the ASGI app serving ``service``; ``app.state.service`` holds it."""

    async def canvas(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await _read_body(request, service.config.max_body_bytes)
        if body is None:
            payload = json.dumps(rules.PAYLOAD_TOO_LARGE).encode()
            await _to_starlette(ApiResponse(413, payload, headers={"Connection": "close"}))(scope, receive, send)
            return
        api_request = ApiRequest(
            method=request.method,
            path=scope["path"],
            query=scope["query_string"].decode("utf-8", "replace"),
            headers=request.headers,
            body=body,
            client=request.client.host if request.client else "unknown",
        )
        response = service.handle(api_request)
        if response.delay:
            await asyncio.sleep(response.delay)
        await _to_starlette(service.finish(response))(scope, receive, send)

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
        users = service.world.add_students(course_id, count)
        body: list[dict[str, Any]] = [{"id": u.id, "token": u.token} for u in users]
        return JSONResponse(body)

    app = Starlette(
        routes=[
            Route(f"{CONTROL_PREFIX}/health", health, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/reset", reset, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/calls", calls, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/stats", stats, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/students", students, methods=["POST"]),
        ]
    )
    app.router.default = canvas
    app.state.service = service
    return app
